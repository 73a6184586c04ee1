"""The one way the API and the CLI reach Postgres: a small pool of kept-open connections.

`Pool.connection()` lends a connection inside a transaction, committed when the block ends
without an error. A kept connection is checked with one round trip first, and one the server
dropped (a restart, an idle timeout) is replaced. At most `max_connections` are open; further
callers wait for one. Postgres unreachable, or gone during a call, raises
PostgresUnavailable, which the API answers with 503 and Retry-After.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2


class PostgresUnavailable(OSError):
    """Postgres cannot be reached (or went away during a call); a later call connects again."""


def _alive(conn: Any) -> bool:
    """One round trip on a kept connection; a dead one is closed."""
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        return True
    except (psycopg2.OperationalError, psycopg2.InterfaceError):
        conn.close()
        return False


class Pool:
    def __init__(self, dsn: str, max_connections: int = 8) -> None:
        self.dsn = dsn
        self._idle: list[Any] = []  # open connections not in use, the last used on top
        self._slots = threading.BoundedSemaphore(max_connections)  # callers wait for one
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A connection of the pool, in a transaction committed on success."""
        with self._slots:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is not None and not _alive(conn):
                conn = None
            healthy = False
            try:
                if conn is None:
                    conn = psycopg2.connect(self.dsn)
                with conn:
                    yield conn
                healthy = True
            except psycopg2.OperationalError as exc:  # Postgres unreachable, or gone mid-call
                raise PostgresUnavailable(f"Postgres is unavailable: {str(exc).strip()}") from exc
            finally:
                if conn is not None and healthy and not conn.closed:
                    with self._lock:
                        self._idle.append(conn)
                elif conn is not None:
                    conn.close()
