"""How many dirty dates wait for a `mode: dirty` schedule: counted in the Postgres the
operator is given (SMARTWATCH_POSTGRES_DSN), for the schedules that name the Secret holding
that DSN (`--postgres-secret NAMESPACE/NAME[:KEY]`); the operator reads no Secret itself.
One count a granularity, at most every `max_age` seconds, whatever the number of schedules."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)


def parse_secret(text: str) -> tuple[str, str, str]:
    """NAMESPACE/NAME[:KEY] -> (namespace, name, key); KEY defaults to `dsn`, as in the CRD."""
    ref, _, key = text.partition(":")
    namespace, slash, name = ref.partition("/")
    if not (namespace and slash and name) or "/" in name:
        raise ValueError(f"--postgres-secret {text!r} is not NAMESPACE/NAME[:KEY]")
    return namespace, name, key or "dsn"


class DirtyCounter:
    def __init__(self, query: Callable[[str], int], secret: tuple[str, str, str],
                 max_age: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.query = query  # granularity -> dirty dates (blocking; run on a thread)
        self.secret = secret
        self.max_age = max_age
        self.clock = clock
        self._counted: dict[str, tuple[float, int | None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def applies(self, namespace: str, spec: Mapping[str, Any]) -> bool:
        """A dirty schedule whose Postgres is the operator's (the same Secret and key)."""
        postgres = spec.get("postgres") or {}
        return (spec.get("mode") == "dirty"
                and (namespace, postgres.get("secretName"), postgres.get("key", "dsn"))
                == self.secret)

    async def count(self, namespace: str, spec: Mapping[str, Any]) -> int | None:
        """The dirty dates waiting for the schedule; None when it does not apply, or when
        Postgres has not answered yet (the last count stays while it does not answer)."""
        if not self.applies(namespace, spec):
            return None
        granularity = str(spec.get("granularity", "daily"))
        lock = self._locks.setdefault(granularity, asyncio.Lock())
        async with lock:  # one query a granularity at a time; the others wait for its answer
            at, found = self._counted.get(granularity, (None, None))
            if at is not None and self.clock() - at < self.max_age:
                return found
            try:
                found = await asyncio.to_thread(self.query, granularity)
            except Exception as exc:  # Postgres down: keep the last count, try again later
                log.warning("dirty dates of %s not counted: %s", granularity, exc)
            self._counted[granularity] = (self.clock(), found)
            return found


def postgres_query(dsn: str) -> Callable[[str], int]:
    """The count, by a short connection to `dsn` each time (at most one a granularity every
    max_age seconds)."""
    def query(granularity: str) -> int:
        import psycopg2

        from smartwatch.dirty import count_dirty_dates

        conn = psycopg2.connect(dsn, connect_timeout=5)
        try:
            with conn:
                return count_dirty_dates(conn, granularity)
        finally:
            conn.close()
    return query
