"""Ownership and zones have history, on the real Kafka, Postgres and Spark: a watch handed from
one user to another keeps the first user's readings with the first user, and a user who moves
keeps their old days in the old zone. Expected figures are written by hand."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import psycopg2
import pytest

from smartwatch.db import migrate
from smartwatch.periods import align
from smartwatch.registry import Registry
from tests.integration.jobs.aggregate_world import land_events

pytestmark = pytest.mark.integration

D = dt.date


def _reading(device: str, n: int, at: str, steps: int) -> dict:
    return {"schema_version": 1, "event_id": str(n), "device_id": device, "measured_at": at,
            "heart_rate_bpm": 60.0, "steps": steps, "sleep_state": "awake",
            "time_source": "offset", "time_zone": None,
            "received_at": "2026-11-28T00:00:00+00:00"}


def _send(spark, kafka_bootstrap, tmp_path, dsn, readings: list[dict], name: str) -> None:
    land_events(spark, kafka_bootstrap, tmp_path, [(r["device_id"].encode(), json.dumps(r).encode())
                                             for r in readings], dsn, name)


def _import(dsn: str, entries: list[dict]) -> dict:
    registry = Registry(dsn, max_connections=1)
    try:
        return registry.import_profiles(entries)
    finally:
        registry.close()


def _daily(dsn: str, users: list[str]) -> dict[tuple[str, dt.date], tuple[int, int]]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT user_id, local_date, total_steps, readings FROM daily_aggregates "
                    "WHERE user_id = ANY(%s)", (users,))
        return {(u, d): (s, r) for u, d, s, r in cur.fetchall()}


def _weekly(dsn: str, users: list[str]) -> dict[tuple[str, int], int]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT user_id, iso_week, total_steps FROM weekly_aggregates "
                    "WHERE user_id = ANY(%s)", (users,))
        return {(u, w): s for u, w, s in cur.fetchall()}


def _dirty_then_full(spark, lake: str, dsn: str, first: dt.date, last: dt.date, check) -> None:
    """`check` after the dirty runs that the registry's changes cause, then after a full
    recompute of the range: both must give the same figures."""
    from smartwatch_jobs import aggregate as agg

    for g in ("daily", "weekly"):
        agg.run_dirty(spark, lake, dsn, g)
    check()
    for g in ("daily", "weekly"):
        agg.run_window(spark, lake, dsn, align(g, first, last))
    check()


@pytest.mark.parametrize("order", ["handover imported before the later readings land",
                                   "handover imported later, with an earlier since"])
def test_a_handed_over_watch_keeps_each_reading_with_who_wore_it(
        spark, kafka_bootstrap, postgres_dsn, tmp_path, order) -> None:
    migrate(postgres_dsn)
    tag = f"h{uuid.uuid4().hex[:6]}"
    watch, a, b = f"{tag}-watch", f"{tag}-a", f"{tag}-b"
    lake = f"file://{tmp_path / 'lake'}"
    # A wears the watch on Sunday 10 May (ISO week 19); B from Monday 11 May, 12:00 UTC, and
    # wears it on Tuesday 12 May (ISO week 20). The watch numbers its readings 1, 2, 3, ...
    before = [_reading(watch, n, f"2026-05-10T{h:02d}:00:00+00:00", 10 * n)
              for n, h in ((1, 8), (2, 9), (3, 10))]
    after = [_reading(watch, n, f"2026-05-12T{h:02d}:00:00+00:00", n - 3)
             for n, h in ((4, 8), (5, 9), (6, 10))]
    handover = {"user_id": b, "device_id": watch, "time_zone": "Asia/Tokyo",
                "since": "2026-05-11T12:00:00+00:00"}
    _import(postgres_dsn, [{"user_id": a, "device_id": watch, "time_zone": "Europe/Berlin",
                            "since": "2026-05-01T00:00:00+02:00"}])
    _send(spark, kafka_bootstrap, tmp_path, postgres_dsn, before, f"{tag}-1")
    if order.startswith("handover imported before"):
        assert _import(postgres_dsn, [handover])["handovers"] == 1
        _send(spark, kafka_bootstrap, tmp_path, postgres_dsn, after, f"{tag}-2")
    else:
        _send(spark, kafka_bootstrap, tmp_path, postgres_dsn, after, f"{tag}-2")
        assert _import(postgres_dsn, [handover])["handovers"] == 1
    # Importing the same again changes nothing.
    assert _import(postgres_dsn, [handover])["handovers"] == 0

    def check() -> None:
        assert _daily(postgres_dsn, [a, b]) == {(a, D(2026, 5, 10)): (60, 3),
                                                (b, D(2026, 5, 12)): (6, 3)}
        assert _weekly(postgres_dsn, [a, b]) == {(a, 19): 60, (b, 20): 6}

    _dirty_then_full(spark, lake, postgres_dsn, D(2026, 5, 9), D(2026, 5, 13), check)
    registry = Registry(postgres_dsn, max_connections=1)
    try:
        owners = [(o["user_id"], o["since"]) for o in registry.owners_of(watch)]
    finally:
        registry.close()
    assert owners[-1] == (b, dt.datetime(2026, 5, 11, 12, tzinfo=dt.UTC))
    assert [u for u, _ in owners] == [a, b]


def test_a_user_who_moves_keeps_the_old_days_in_the_old_zone(spark, kafka_bootstrap,
                                                             postgres_dsn, tmp_path) -> None:
    migrate(postgres_dsn)
    tag = f"m{uuid.uuid4().hex[:6]}"
    watch, user = f"{tag}-watch", f"{tag}-u"
    lake = f"file://{tmp_path / 'lake'}"
    # 20:00 UTC is 22:00 in Berlin (summer time) and 05:00 the next day in Tokyo: each
    # reading's local date says which zone placed it.
    readings = [_reading(watch, 1, "2026-06-08T20:00:00+00:00", 100),
                _reading(watch, 2, "2026-06-11T20:00:00+00:00", 7)]
    _import(postgres_dsn, [{"user_id": user, "device_id": watch, "time_zone": "Europe/Berlin",
                            "since": "2026-06-01T00:00:00+02:00"}])
    _send(spark, kafka_bootstrap, tmp_path, postgres_dsn, readings, f"{tag}-1")
    moved = _import(postgres_dsn, [{"user_id": user, "device_id": watch, "time_zone": "Asia/Tokyo",
                                    "since": "2026-06-10T00:00:00+00:00"}])
    assert (moved["moves"], moved["handovers"]) == (1, 0)

    def check() -> None:
        assert _daily(postgres_dsn, [user]) == {(user, D(2026, 6, 8)): (100, 1),
                                                (user, D(2026, 6, 12)): (7, 1)}

    _dirty_then_full(spark, lake, postgres_dsn, D(2026, 6, 7), D(2026, 6, 13), check)


def test_a_handover_makes_dirty_only_the_dates_it_changes(spark, kafka_bootstrap, postgres_dsn,
                                                          tmp_path) -> None:
    """The new owner's span, not the device's whole past: the handover's change reaches the
    device's dates from the handover's UTC date on; the first owner's reached them all."""
    from smartwatch_jobs.aggregate.lake import dates_of_devices

    migrate(postgres_dsn)
    tag = f"d{uuid.uuid4().hex[:6]}"
    watch = f"{tag}-watch"
    _import(postgres_dsn, [{"user_id": f"{tag}-a", "device_id": watch,
                            "since": "2026-06-20T00:00:00+00:00"}])
    days = ["2026-07-01", "2026-07-05", "2026-07-09"]
    _send(spark, kafka_bootstrap, tmp_path, postgres_dsn,
          [_reading(watch, n, f"{d}T12:00:00+00:00", 1) for n, d in enumerate(days, 1)], tag)
    _import(postgres_dsn, [{"user_id": f"{tag}-b", "device_id": watch,
                            "since": "2026-07-04T00:00:00+00:00"}])
    with psycopg2.connect(postgres_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT CASE WHEN effective_from = '-infinity' THEN NULL "
                    "ELSE effective_from END FROM registry_changes WHERE device_id = %s "
                    "ORDER BY id", (watch,))
        changes = [r[0] for r in cur.fetchall()]
    # The first owner: all dates (None); the handover: from its instant.
    assert changes == [None, dt.datetime(2026, 7, 4, tzinfo=dt.UTC)]
    lake = f"file://{tmp_path / 'lake'}"
    assert sorted(dates_of_devices(spark, lake, {watch: D(2026, 7, 4)})) == [D(2026, 7, 5),
                                                                         D(2026, 7, 9)]
    assert sorted(dates_of_devices(spark, lake, {watch: None})) == [D(2026, 7, 1), D(2026, 7, 5),
                                                                  D(2026, 7, 9)]
