"""The local Postgres: a row written and read over TCP by a role that needs its password."""

import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

pytestmark = pytest.mark.integration


def test_row_round_trip_over_tcp_with_password(postgres_dsn: str) -> None:
    assert urlsplit(postgres_dsn).hostname == "127.0.0.1"
    table = f"smoke_{uuid.uuid4().hex[:8]}"
    with psycopg2.connect(postgres_dsn) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (device_id text PRIMARY KEY, steps int)")
        cur.execute(f"INSERT INTO {table} VALUES (%s, %s)", ("watch-7", 1234))
    with psycopg2.connect(postgres_dsn) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT device_id, steps FROM {table}")
        assert cur.fetchall() == [("watch-7", 1234)]
        cur.execute(f"DROP TABLE {table}")


def test_wrong_password_is_refused(postgres_dsn: str) -> None:
    parts = urlsplit(postgres_dsn)
    netloc = f"{parts.username}:not-the-password@{parts.hostname}:{parts.port}"
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(urlunsplit(parts._replace(netloc=netloc)), connect_timeout=5)
