"""The aggregation job against real Spark and Postgres, every column of the three tables
compared with an independent computation (DuckDB over the same lake): users in four zones,
DST starts and ends, resent readings, late readings, an ISO week across a year boundary, a
leap day, and a device that gets its owner later. Reruns give the same figures; a failure in
the middle of a write leaves the window's previous rows."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import duckdb
import psycopg2
import pytest

from smartwatch.periods import GRANULARITIES, align
from smartwatch.registry import Registry
from tests.integration.jobs.aggregate_world import (
    WINDOW,
    ZONES,
    assert_same,
    expected_figures,
    land_events,
    stored_figures,
)

pytestmark = pytest.mark.integration



@pytest.mark.parametrize("granularity", ["daily", "weekly", "monthly"])
def test_every_column_matches_an_independent_computation(world, postgres_dsn, granularity):
    stored = stored_figures(postgres_dsn, world["tag"], granularity)
    expected = expected_figures(world["lake"], postgres_dsn, world["tag"], granularity)
    assert len(expected) > 10
    assert_same(stored, expected)
    # The device without owner is skipped, and counted as such.
    assert not any(k[0].endswith("-ud") for k in stored)
    assert world["runs"][granularity].events_without_owner == sum(
        1 for e in world["events"] if e["device_id"].endswith("-d"))


def test_the_lake_holds_duplicates_that_aggregation_drops(world):
    db = duckdb.connect()
    rows, ids = db.execute(f"""SELECT count(*), count(DISTINCT (device_id, event_id)) FROM
                               read_parquet('{world['lake']}/*/*.parquet')
                               WHERE device_id LIKE '{world['tag']}-%'""").fetchone()
    assert ids == len(world["events"])
    # Landing keeps every Kafka record: both rounds of resent copies are in the lake.
    assert rows - ids == 2 * (len(world["events"]) // 20)


@pytest.mark.parametrize("path", ["hashes grouped by Spark", "colliding hashes",
                                  "every event by event_id"])
def test_each_deduplication_path_gives_the_same_figures(world, spark, postgres_dsn,
                                                         monkeypatch, path):
    """The driver sorts the id hashes by default; these are the other paths: the hashes
    grouped by Spark (past the driver's bound), hashes that collide for unequal ids, and too
    many shared hashes to broadcast."""
    from pyspark.sql import functions as F

    from smartwatch_jobs import aggregate as agg
    from smartwatch_jobs.aggregate import compute

    if path == "hashes grouped by Spark":
        spark.conf.set(compute.DRIVER_HASHES_CONF, "0")
    elif path == "colliding hashes":
        monkeypatch.setattr(compute, "id_hash", lambda: F.length("event_id").cast("long"))
    else:
        monkeypatch.setattr(compute, "SHARED_HASHES_MAX", 0)
    lake = world["lake"]
    try:
        agg.run_window(spark, f"file://{lake}", postgres_dsn, align("daily", *WINDOW))
    finally:
        spark.conf.unset(compute.DRIVER_HASHES_CONF)
    assert_same(stored_figures(postgres_dsn, world["tag"], "daily"),
                 expected_figures(lake, postgres_dsn, world["tag"], "daily"))


def test_zones_localised_row_by_row_give_the_same_figures(world, spark, postgres_dsn,
                                                          monkeypatch):
    """A zone with more UTC offsets in the window than the driver lists is localised row by
    row with from_utc_timestamp; here every zone with DST is."""
    from smartwatch_jobs import aggregate as agg
    from smartwatch_jobs.aggregate import owners

    monkeypatch.setattr(owners, "MAX_OFFSETS_PER_ZONE", 1)
    agg.run_window(spark, f"file://{world['lake']}", postgres_dsn, align("weekly", *WINDOW))
    assert_same(stored_figures(postgres_dsn, world["tag"], "weekly"),
                 expected_figures(world["lake"], postgres_dsn, world["tag"], "weekly"))


def test_a_record_landed_twice_counts_once(world, spark, postgres_dsn, tmp_path):
    """A landing job restarted without its checkpoint lands records again: one Kafka record
    at the same position twice in the lake, identical. Aggregation keeps one copy."""
    import shutil

    from smartwatch_jobs import aggregate as agg

    lake = tmp_path / "lake"
    shutil.copytree(world["lake"], lake)
    for folder in sorted(lake.glob("event_date=*"))[::3]:
        for f in folder.glob("*.parquet"):
            shutil.copy(f, folder / f"relanded-{f.name}")
    rows, records = duckdb.connect().execute(f"""
        SELECT count(*), count(DISTINCT (event_id, kafka_partition, kafka_offset))
        FROM read_parquet('{lake}/*/*.parquet') WHERE device_id LIKE '{world['tag']}-%'
        """).fetchone()
    assert rows - records > 100  # records at one position twice
    agg.run_window(spark, f"file://{lake}", postgres_dsn, align("daily", *WINDOW))
    assert_same(stored_figures(postgres_dsn, world["tag"], "daily"),
                 expected_figures(lake, postgres_dsn, world["tag"], "daily"))


def test_calendar_edges_are_present(world, postgres_dsn):
    tag = world["tag"]
    weekly = stored_figures(postgres_dsn, tag, "weekly")
    # 2021-01-01 (a Friday) belongs to ISO week 53 of 2020, which starts on 2020-12-28.
    assert (f"{tag}-ub", 2020, 53, dt.date(2020, 12, 28)) in weekly
    daily = stored_figures(postgres_dsn, tag, "daily")
    assert (f"{tag}-uc", dt.date(2024, 2, 29)) in daily
    # DST: Berlin's 2026-03-29 has 23 hours, 2026-10-25 has 25; readings every 45 minutes.
    short, long_ = daily[(f"{tag}-ub", dt.date(2026, 3, 29))], daily[(f"{tag}-ub",
                                                                      dt.date(2026, 10, 25))]
    assert short["readings"] in (30, 31) and long_["readings"] in (33, 34)
    # ua owns two watches: both count.
    assert daily[(f"{tag}-ua", dt.date(2026, 3, 8))]["readings"] >= 2 * 30


def test_rerun_gives_identical_figures(world, spark, postgres_dsn):
    from smartwatch_jobs import aggregate as agg

    before = {g: stored_figures(postgres_dsn, world["tag"], g) for g in GRANULARITIES}
    agg.run_window(spark, f"file://{world['lake']}", postgres_dsn, align("daily", *WINDOW))
    assert stored_figures(postgres_dsn, world["tag"], "daily") == before["daily"]


def test_jdbc_load_gives_the_same_rows_as_copy(world, spark, postgres_dsn):
    from smartwatch_jobs import aggregate as agg

    before = stored_figures(postgres_dsn, world["tag"], "weekly")
    agg.run_window(spark, f"file://{world['lake']}", postgres_dsn, align("weekly", *WINDOW),
                   load="jdbc")
    assert stored_figures(postgres_dsn, world["tag"], "weekly") == before


def test_failure_in_the_middle_of_a_write_keeps_previous_rows(world, spark, postgres_dsn,
                                                              monkeypatch):
    from smartwatch_jobs import aggregate as agg
    from smartwatch_jobs.aggregate import store

    before = stored_figures(postgres_dsn, world["tag"], "monthly")

    def broken(*args):
        raise OSError("disk full while writing")  # after the DELETE of the window

    monkeypatch.setattr(store, "_copy_sql", broken)
    with pytest.raises(OSError, match="disk full"):
        agg.run_window(spark, f"file://{world['lake']}", postgres_dsn,
                       align("monthly", *WINDOW), run=f"failing-{world['tag']}")
    assert stored_figures(postgres_dsn, world["tag"], "monthly") == before
    with psycopg2.connect(postgres_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT status, error FROM aggregation_runs WHERE run = %s",
                    (f"failing-{world['tag']}",))
        status, error = cur.fetchone()
    assert status == "failed" and "disk full" in error


def test_late_events_and_a_new_owner_are_picked_up_by_dirty_runs(world, spark, kafka_bootstrap,
                                                                  postgres_dsn):
    from smartwatch_jobs import aggregate as agg

    tag, lake = world["tag"], world["lake"]
    for g in GRANULARITIES:  # start clean
        agg.run_dirty(spark, f"file://{lake}", postgres_dsn, g)
    late = [{**e, "event_id": e["event_id"] + "-late", "steps": 1000}
            for e in world["events"] if e["measured_at"].startswith("2024-02-29")]
    land_events(spark, kafka_bootstrap, world["tmp"], [(e["device_id"].encode(), json.dumps(e).encode())
                                                 for e in late], postgres_dsn, "late")
    registry = Registry(postgres_dsn, max_connections=1)
    registry.import_profiles([{"user_id": f"{tag}-ud", "device_id": f"{tag}-d",
                               "time_zone": ZONES["d"]}])
    registry.close()
    for g in GRANULARITIES:
        results = agg.run_dirty(spark, f"file://{lake}", postgres_dsn, g)
        assert results, f"no dirty {g} window"
        # Only windows around the late date and the new owner's dates: not the whole range.
        assert all((r.window.end - r.window.start).days < 120 for r in results)
        assert_same(stored_figures(postgres_dsn, tag, g), expected_figures(lake, postgres_dsn, tag, g))
    assert any(k[0] == f"{tag}-ud" for k in stored_figures(postgres_dsn, tag, "daily"))
    # Nothing dirty is left.
    assert agg.run_dirty(spark, f"file://{lake}", postgres_dsn, "daily") == []


def test_invalid_window_exits_before_spark(api):
    for args, text in [(["--from", "2026-02-01", "--to", "2026-01-01"], "is after"),
                       (["--from", "2026-02-30", "--to", "2026-03-01"], "is not a date"),
                       (["--granularity", "hourly"], "invalid choice")]:
        argv = ["--granularity", "daily", *args] if args[0] != "--granularity" else [
            *args, "--from", "2026-01-01", "--to", "2026-01-02"]
        done = subprocess.run([sys.executable, "-m", "smartwatch", "aggregate", *argv,
                               "--state-dir", api["state_dir"]], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 2 and text in done.stderr, done.stderr
        assert "Spark" not in done.stderr


def test_postgres_unreachable_exits_non_zero(tmp_path):
    import os

    from smartwatch_dev.stack.process import free_port

    env = {**os.environ, "SMARTWATCH_POSTGRES_DSN":
           f"postgresql://x:y@127.0.0.1:{free_port()}/none", "SMARTWATCH_LAKE_URI":
           f"file://{tmp_path}"}
    done = subprocess.run([sys.executable, "-m", "smartwatch", "aggregate", "--granularity",
                           "daily", "--from", "2026-01-01", "--to", "2026-01-02"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Postgres is not reachable" in done.stderr


def test_query_endpoint_and_cli_return_the_stored_rows(world, api, postgres_dsn):
    import httpx

    from tests.integration.api.helpers import admin

    tag = world["tag"]
    user = f"{tag}-ub"
    stored = stored_figures(postgres_dsn, tag, "daily")
    mine = sorted(k[1] for k in stored if k[0] == user)
    with admin(api) as client:
        r = client.get(f"/v1/users/{user}/aggregates/daily",
                       params={"from": "2026-03-27", "to": "2026-03-31"})
        assert r.status_code == 200, r.text
        rows = r.json()["rows"]
        assert [row["local_date"] for row in rows] == [
            d.isoformat() for d in mine if dt.date(2026, 3, 27) <= d <= dt.date(2026, 3, 31)]
        for row in rows:
            want = stored[(user, dt.date.fromisoformat(row["local_date"]))]
            assert (row["total_steps"], row["hr_samples"], row["readings"]) == (
                want["total_steps"], want["hr_samples"], want["readings"])
        weekly = client.get(f"/v1/users/{user}/aggregates/weekly").json()["rows"]
        assert {(w["iso_year"], w["iso_week"]) for w in weekly} >= {(2020, 53), (2026, 13)}
        assert client.get(f"/v1/users/{user}/aggregates/hourly").status_code == 422
        assert client.get(f"/v1/users/{user}/aggregates/daily",
                          params={"from": "2026-02-01", "to": "2026-01-01"}).status_code == 400
        own = client.post(f"/v1/admin/devices/{tag}-b/token").json()["token"]
        other = client.post(f"/v1/admin/devices/{tag}-c/token").json()["token"]
    with httpx.Client(base_url=api["url"]) as client:
        assert client.get(f"/v1/users/{user}/aggregates/daily").status_code == 401
        r = client.get(f"/v1/users/{user}/aggregates/monthly",
                       headers={"Authorization": f"Bearer {own}"})
        assert r.status_code == 200 and len(r.json()["rows"]) == len(
            [k for k in stored_figures(postgres_dsn, tag, "monthly") if k[0] == user])
        r = client.get(f"/v1/users/{user}/aggregates/daily",
                       headers={"Authorization": f"Bearer {other}"})
        assert r.status_code == 403
    done = subprocess.run([sys.executable, "-m", "smartwatch", "query", user, "--granularity",
                           "daily", "--from", "2024-02-29", "--to", "2024-02-29", "--json",
                           "--state-dir", api["state_dir"]], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["local_date"] for r in rows] == ["2024-02-29"]
    assert rows[0]["total_steps"] == stored[(user, dt.date(2024, 2, 29))]["total_steps"]


# --- run names (--run-name) and the spark-submit entrypoint -------------------------------------
