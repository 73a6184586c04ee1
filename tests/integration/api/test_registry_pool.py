"""The registry's connections and caches against the test stack's Postgres: connections stay
open between calls, concurrent misses of one key make one query, and a connection the
server dropped is replaced."""

from __future__ import annotations

import threading
import uuid

import psycopg2
import pytest

from smartwatch.registry import Registry

pytestmark = pytest.mark.integration


def _backend(registry: Registry) -> int:
    with registry._conn() as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return int(cur.fetchone()[0])


def test_connections_stay_open_between_calls(postgres_dsn) -> None:
    registry = Registry(postgres_dsn, max_connections=2)
    try:
        pids = {_backend(registry) for _ in range(20)}
        assert len(pids) == 1  # one server process served every call: no new connection each
    finally:
        registry.close()


def test_a_dropped_connection_is_replaced(postgres_dsn) -> None:
    registry = Registry(postgres_dsn, max_connections=1)
    try:
        first = _backend(registry)
        with psycopg2.connect(postgres_dsn) as admin, admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", (first,))
        second = _backend(registry)  # no error: the kept connection is replaced
        assert second != first
        assert _backend(registry) == second
    finally:
        registry.close()


def test_concurrent_misses_of_one_key_load_once(postgres_dsn) -> None:
    registry = Registry(postgres_dsn, max_connections=4)
    device = f"pool-{uuid.uuid4().hex[:8]}"
    loads = []
    started = threading.Barrier(16)

    def load() -> str:
        loads.append(1)
        with registry._conn() as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_sleep(0.3)")
        return "Asia/Tokyo"

    results: list[object] = []

    def ask() -> None:
        started.wait()
        results.append(registry._cached("zone", device, load))

    threads = [threading.Thread(target=ask) for _ in range(16)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert results == ["Asia/Tokyo"] * 16
        assert len(loads) == 1
        assert registry.cached_zones([device]) == {device: "Asia/Tokyo"}
    finally:
        registry.close()
