"""Migration 0004 carries today's registry into the ownership and zone history with no loss:
run on the real Postgres, in a schema of its own, over a registry written by hand in the
shape the migrations before it made."""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg2
import pytest

from smartwatch.db.migrate import available

pytestmark = pytest.mark.integration

T0 = dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)


def test_the_registry_of_before_becomes_its_first_history(postgres_dsn: str) -> None:
    schema = f"m{uuid.uuid4().hex[:8]}"
    migrations = dict(available())
    before = [name for name in migrations if name < "0004"]
    conn = psycopg2.connect(postgres_dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"CREATE SCHEMA {schema}")
            cur.execute(f"SET search_path TO {schema}")
            for name in before:
                cur.execute(migrations[name])
            cur.execute("""INSERT INTO users (user_id, time_zone, created_at) VALUES
                             ('u1', 'Europe/Berlin', %s), ('u2', 'Asia/Tokyo', %s),
                             ('u3', 'UTC', %s)""", (T0, T0 + dt.timedelta(days=1), T0))
            cur.execute("""INSERT INTO devices (device_id, user_id, owner_since, registered_at)
                           VALUES ('w1', 'u1', %s, %s), ('w2', 'u2', NULL, %s),
                                  ('w3', NULL, NULL, %s)""",
                        (T0 + dt.timedelta(hours=5), T0, T0 + dt.timedelta(hours=2), T0))
            cur.execute(migrations["0004_history"])
            cur.execute("SELECT device_id, user_id, since FROM device_owners ORDER BY 1")
            assert cur.fetchall() == [("w1", "u1", T0 + dt.timedelta(hours=5)),
                                      ("w2", "u2", T0 + dt.timedelta(hours=2))]
            cur.execute("SELECT user_id, time_zone, since FROM user_zones ORDER BY 1")
            assert cur.fetchall() == [("u1", "Europe/Berlin", T0),
                                      ("u2", "Asia/Tokyo", T0 + dt.timedelta(days=1)),
                                      ("u3", "UTC", T0)]
            # Each owned device's pending recompute (what owner_since meant to the dirty
            # runs) is a change of all its dates, recorded when its owner was set.
            cur.execute("""SELECT device_id, effective_from = '-infinity', recorded_at
                           FROM registry_changes ORDER BY 1""")
            assert cur.fetchall() == [("w1", True, T0 + dt.timedelta(hours=5)),
                                      ("w2", True, T0 + dt.timedelta(hours=2))]
    finally:
        with conn, conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.close()
