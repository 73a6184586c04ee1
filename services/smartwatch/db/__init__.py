"""Postgres: schema migrations and connections."""

from smartwatch.db.migrate import migrate

__all__ = ["migrate"]
