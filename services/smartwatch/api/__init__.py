"""The ingest API (FastAPI): readings in, canonical events to Kafka."""

from smartwatch.api.main import create_app

__all__ = ["create_app"]
