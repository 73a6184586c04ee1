"""`smartwatch audit` on the real Kafka, Postgres and Spark: after the landing and the daily
aggregation it finds every user-day equal and exits 0; a row of the daily figures changed or
deleted by hand makes it exit 1, naming the user and the day; a lake path that names no lake
fails it with one line naming the path. The expected counts are written by hand from the
readings below (2011: no other test uses those dates)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid

import psycopg2
import pytest

from smartwatch.db import migrate
from smartwatch.periods import align
from smartwatch.registry import Registry
from tests.integration.jobs.landing_data import produce

pytestmark = pytest.mark.integration

D = dt.date
FIRST, LAST = D(2011, 3, 1), D(2011, 3, 6)


def _reading(device: str, n: int, at: str) -> dict:
    return {"schema_version": 1, "event_id": str(n), "device_id": device, "measured_at": at,
            "heart_rate_bpm": 60.0, "steps": n, "sleep_state": "awake",
            "time_source": "offset", "time_zone": None,
            "received_at": "2026-11-28T00:00:00+00:00"}


@pytest.fixture(scope="module")
def audited(spark, kafka_bootstrap, postgres_dsn, tmp_path_factory):
    """Two watches that both number their readings 1, 2, 3, ...; watch `wa` handed from A
    (Berlin) to B (Tokyo) on 3 March 2011, 12:00 UTC; a watch without an owner; one copy
    resent. Landed, then the daily figures of 1-6 March computed."""
    from smartwatch_jobs import aggregate as agg
    from smartwatch_jobs import landing

    migrate(postgres_dsn)
    tmp = tmp_path_factory.mktemp("audit")
    tag = f"a{uuid.uuid4().hex[:6]}"
    a, b, wa, wb, wx = (f"{tag}-{n}" for n in ("a", "b", "wa", "wb", "wx"))
    readings = [
        _reading(wa, 1, "2011-03-01T10:00:00Z"),  # A: Berlin 1 March
        _reading(wa, 2, "2011-03-02T10:00:00Z"),  # A: Berlin 2 March
        _reading(wa, 3, "2011-03-02T23:30:00Z"),  # A: Berlin 3 March 00:30
        _reading(wa, 4, "2011-03-04T01:00:00Z"),  # B (after the handover): Tokyo 4 March
        _reading(wa, 5, "2011-03-04T20:00:00Z"),  # B: Tokyo 5 March 05:00
        _reading(wa, 6, "2011-03-05T03:00:00Z"),  # B: Tokyo 5 March 12:00
        _reading(wb, 1, "2011-03-01T10:00:00Z"),  # B: Tokyo 1 March 19:00
        _reading(wb, 2, "2011-03-01T16:00:00Z"),  # B: Tokyo 2 March 01:00
        _reading(wb, 3, "2011-03-04T14:59:00Z"),  # B: Tokyo 4 March 23:59
        *(_reading(wx, n, f"2011-03-02T0{n}:00:00Z") for n in (1, 2, 3, 4)),  # no owner
    ]
    expected = {(a, D(2011, 3, 1)): 1, (a, D(2011, 3, 2)): 1, (a, D(2011, 3, 3)): 1,
                (b, D(2011, 3, 1)): 1, (b, D(2011, 3, 2)): 1, (b, D(2011, 3, 4)): 2,
                (b, D(2011, 3, 5)): 2}
    registry = Registry(postgres_dsn, max_connections=1)
    try:
        registry.import_profiles([
            {"user_id": a, "device_id": wa, "time_zone": "Europe/Berlin",
             "since": "2011-02-01T00:00:00Z"},
            {"user_id": b, "device_id": wb, "time_zone": "Asia/Tokyo",
             "since": "2011-02-01T00:00:00Z"}])
        assert registry.import_profiles([{"user_id": b, "device_id": wa, "time_zone": "Asia/Tokyo",
                                          "since": "2011-03-03T12:00:00Z"}])["handovers"] == 1
    finally:
        registry.close()
    sent = [*readings, readings[6]]  # wb's reading 1 resent
    topic = produce(kafka_bootstrap, [(r["device_id"].encode(), json.dumps(r).encode())
                                      for r in sent])
    lake = f"file://{tmp / 'lake'}"
    landing.run(spark, landing.LandingConfig(
        bootstrap=kafka_bootstrap, topic=topic, lake=lake, quarantine=f"file://{tmp / 'q'}",
        checkpoint=f"file://{tmp / 'ckpt'}", postgres_dsn=postgres_dsn),
        available_now=True, trigger_seconds=1)
    agg.run_window(spark, lake, postgres_dsn, align("daily", FIRST, LAST))
    return {"lake": lake, "topic": topic, "expected": expected, "users": (a, b),
            "unowned": {wx: 4}, "tmp": tmp}


def _audit_command(kafka_bootstrap, postgres_dsn, lake: str, topic: str,
                   *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SMARTWATCH_POSTGRES_DSN": postgres_dsn, "SMARTWATCH_LAKE_URI": lake,
           "SMARTWATCH_KAFKA_BOOTSTRAP": kafka_bootstrap, "SMARTWATCH_EVENTS_TOPIC": topic}
    return subprocess.run([sys.executable, "-m", "smartwatch", "audit", "--from", str(FIRST),
                           "--to", str(LAST), *args], env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def test_every_user_day_agrees_after_the_aggregation(spark, postgres_dsn, audited) -> None:
    from smartwatch_jobs import audit

    report = audit.audit(spark, audited["lake"], postgres_dsn, FIRST, LAST, lag=[])
    mine = set(audited["users"])
    assert [d for d in report.differences if d.user_id in mine] == []
    conn = psycopg2.connect(postgres_dsn)
    try:
        spans = audit.owned_spans(conn)
    finally:
        conn.close()
    in_lake, unowned = audit.lake_days(spark, audited["lake"], spans, FIRST, LAST)
    assert in_lake == audited["expected"]
    assert unowned == audited["unowned"]
    assert report.unowned == audited["unowned"]


def test_a_row_changed_or_deleted_by_hand_is_named(kafka_bootstrap, postgres_dsn, audited) -> None:
    a, b = audited["users"]
    ok = _audit_command(kafka_bootstrap, postgres_dsn, audited["lake"], audited["topic"],
                        "--json")
    assert ok.returncode == 0, ok.stderr[-2000:]
    found = json.loads(ok.stdout)
    assert found["ok"] is True and found["differences"] == []
    assert found["lake_readings"] == found["daily_readings"] == sum(audited["expected"].values())
    assert [(p["behind"], p["lost"]) for p in found["lag"]] == [(0, 0)] * 3
    assert found["unowned"] == [{"device_id": d, "readings": n}
                                for d, n in audited["unowned"].items()]

    with psycopg2.connect(postgres_dsn) as conn, conn.cursor() as cur:
        cur.execute("UPDATE daily_aggregates SET readings = 5 WHERE user_id = %s "
                    "AND local_date = %s", (b, D(2011, 3, 4)))
        cur.execute("DELETE FROM daily_aggregates WHERE user_id = %s AND local_date = %s",
                    (a, D(2011, 3, 2)))
    conn.close()
    bad = _audit_command(kafka_bootstrap, postgres_dsn, audited["lake"], audited["topic"])
    assert bad.returncode == 1
    assert f"user {b} day 2011-03-04: lake 2 readings, daily figures 5 readings" in bad.stdout
    assert f"user {a} day 2011-03-02: lake 1 readings, daily figures no row" in bad.stdout
    assert "smartwatch audit: FAILED: 2 user-days differ" in bad.stderr


def test_a_lake_path_that_is_no_lake_fails_naming_it(spark, postgres_dsn, audited) -> None:
    from smartwatch_jobs import audit
    from smartwatch_jobs.lakeroot import LakeError

    wrong = f"file://{audited['tmp'] / 'no-such-lake'}"
    with pytest.raises(LakeError, match=str(audited["tmp"] / "no-such-lake")):
        audit.audit(spark, wrong, postgres_dsn, FIRST, LAST, lag=[])
