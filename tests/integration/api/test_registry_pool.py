"""The Postgres pool (smartwatch.db.pool) and the registry's caches against the test stack's
Postgres: connections stay open between calls, the figures' query shares the registry's pool,
concurrent misses of one key make one query, a connection the server dropped is replaced, and
Postgres unreachable is PostgresUnavailable."""

from __future__ import annotations

import threading
import uuid

import psycopg2
import pytest

from smartwatch.aggregates import query
from smartwatch.db import migrate
from smartwatch.db.pool import Pool, PostgresUnavailable
from smartwatch.registry import Registry
from smartwatch_dev.stack.process import free_port

pytestmark = pytest.mark.integration


def _backend(registry: Registry) -> int:
    with registry.pool.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return int(cur.fetchone()[0])


def test_connections_stay_open_between_calls(postgres_dsn) -> None:
    registry = Registry(postgres_dsn, max_connections=2)
    try:
        pids = {_backend(registry) for _ in range(20)}
        assert len(pids) == 1  # one server process served every call: no new connection each
    finally:
        registry.close()


def test_the_figures_query_shares_the_registrys_pool(postgres_dsn) -> None:
    migrate(postgres_dsn)
    registry = Registry(postgres_dsn, max_connections=1)
    try:
        first = _backend(registry)
        assert query(registry.pool, f"nobody-{uuid.uuid4().hex[:8]}", "daily", None, None) == []
        assert _backend(registry) == first  # the one connection served the query too
    finally:
        registry.close()


def test_postgres_unreachable_is_postgres_unavailable() -> None:
    pool = Pool(f"postgresql://nobody:x@127.0.0.1:{free_port()}/none?connect_timeout=5")
    with pytest.raises(PostgresUnavailable, match=r"^Postgres is unavailable: "), \
            pool.connection():
        pass


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
        with registry.pool.connection() as conn, conn.cursor() as cur:
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
