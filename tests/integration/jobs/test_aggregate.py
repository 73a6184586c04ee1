"""The aggregation job against real Spark and Postgres, every column of the three tables
compared with an independent computation (DuckDB over the same lake): users in four zones,
DST starts and ends, resent readings, late readings, an ISO week across a year boundary, a
leap day, and a device that gets its owner later. Reruns give the same figures; a failure in
the middle of a write leaves the window's previous rows."""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import psycopg2
import pytest

from smartwatch.db import migrate
from smartwatch.registry import Registry
from tests.integration.jobs.landing_data import produce

pytestmark = pytest.mark.integration

ZONES = {"a": "America/New_York", "a2": "America/New_York", "b": "Europe/Berlin",
         "c": "Asia/Kolkata", "d": "Australia/Sydney"}
OWNER = {"a": "ua", "a2": "ua", "b": "ub", "c": "uc", "d": "ud"}
RANGES = [("2020-12-26", "2021-01-05"), ("2024-02-27", "2024-03-02"),
          ("2026-03-06", "2026-03-10"), ("2026-03-27", "2026-03-31"),
          ("2026-10-23", "2026-10-27"), ("2026-10-30", "2026-11-03")]
WINDOW = (dt.date(2020, 12, 20), dt.date(2026, 11, 10))
MEASURE_COLS = ["total_steps", "hr_samples", "hr_sum", "avg_hr", "min_hr", "max_hr",
                "sleep_hr_samples", "sleep_hr_sum", "avg_sleep_hr", "readings", "first_us",
                "last_us"]
KEYS = {"daily": ["user_id", "local_date"],
        "weekly": ["user_id", "iso_year", "iso_week", "week_start"],
        "monthly": ["user_id", "year", "month", "month_start"]}


def _events(tag: str, seed: int, minutes: int = 45) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for short in ZONES:
        device = f"{tag}-{short}"
        for first, last in RANGES:
            t = dt.datetime.fromisoformat(first).replace(tzinfo=dt.UTC) + dt.timedelta(
                minutes=rng.randint(0, 30))
            end = dt.datetime.fromisoformat(last).replace(tzinfo=dt.UTC) + dt.timedelta(days=1)
            while t < end:
                i = len(out)
                state = ["awake", "light", "deep", "rem", "asleep", "unknown", None][i % 7]
                out.append({"schema_version": 1, "event_id": f"{device}-{i}", "device_id": device,
                            "measured_at": t.isoformat(),
                            "heart_rate_bpm": None if i % 9 == 0 else float(45 + rng.randint(0, 90)),
                            "steps": None if i % 13 == 0 else rng.randint(0, 400),
                            "sleep_state": state if i % 9 or i % 13 else "awake",
                            "time_source": "offset", "time_zone": None,
                            "received_at": "2026-11-28T00:00:00+00:00"})
                t += dt.timedelta(minutes=minutes)
    return out


def _land(spark, bootstrap, tmp_path, records, dsn, name):
    from smartwatch_jobs import landing

    topic = produce(bootstrap, records)
    cfg = landing.LandingConfig(bootstrap=bootstrap, topic=topic, lake=f"file://{tmp_path / 'lake'}",
                                quarantine=f"file://{tmp_path / 'q'}",
                                checkpoint=f"file://{tmp_path / ('ckpt-' + name)}",
                                postgres_dsn=dsn)
    landing.run(spark, cfg, available_now=True, trigger_seconds=1)


def _expected(lake, dsn, tag, granularity) -> dict[tuple, dict]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT d.device_id, d.user_id, u.time_zone FROM devices d JOIN users u "
                    "USING (user_id) WHERE d.device_id LIKE %s", (f"{tag}-%",))
        owners = cur.fetchall()
    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    db.execute("CREATE TABLE owners (device_id VARCHAR, user_id VARCHAR, time_zone VARCHAR)")
    if owners:
        db.executemany("INSERT INTO owners VALUES (?, ?, ?)", owners)
    keys = {"daily": "local_date",
            "weekly": "isoyear(local_date) AS iso_year, week(local_date) AS iso_week, "
                      "CAST(date_trunc('week', local_date) AS DATE) AS week_start",
            "monthly": "year(local_date) AS year, month(local_date) AS month, "
                       "CAST(date_trunc('month', local_date) AS DATE) AS month_start"}[granularity]
    sql = f"""
        WITH e AS (
            SELECT * FROM read_parquet('{lake}/*/*.parquet', hive_partitioning = true)
            WHERE device_id LIKE '{tag}-%'
            QUALIFY row_number() OVER (PARTITION BY event_id
                                       ORDER BY received_at, kafka_partition, kafka_offset) = 1),
        l AS (
            SELECT e.*, o.user_id, CAST(timezone(o.time_zone, e.measured_at) AS DATE) AS local_date,
                   e.sleep_state IN ('light', 'deep', 'rem', 'asleep') AS asleep
            FROM e JOIN owners o USING (device_id))
        SELECT user_id, {keys},
               coalesce(sum(steps), 0) AS total_steps, count(heart_rate_bpm) AS hr_samples,
               coalesce(sum(heart_rate_bpm), 0) AS hr_sum, avg(heart_rate_bpm) AS avg_hr,
               min(heart_rate_bpm) AS min_hr, max(heart_rate_bpm) AS max_hr,
               count(heart_rate_bpm) FILTER (WHERE asleep) AS sleep_hr_samples,
               coalesce(sum(heart_rate_bpm) FILTER (WHERE asleep), 0) AS sleep_hr_sum,
               avg(heart_rate_bpm) FILTER (WHERE asleep) AS avg_sleep_hr,
               count(*) AS readings, epoch_us(min(measured_at)) AS first_us,
               epoch_us(max(measured_at)) AS last_us
        FROM l GROUP BY ALL"""
    cur = db.execute(sql)
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    return {tuple(r[k] for k in KEYS[granularity]): r for r in rows}


def _stored(dsn, tag, granularity) -> dict[tuple, dict]:
    keys = ", ".join(KEYS[granularity])
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f"""SELECT {keys}, total_steps, hr_samples, hr_sum, avg_hr, min_hr, max_hr,
                               sleep_hr_samples, sleep_hr_sum, avg_sleep_hr, readings,
                               (extract(epoch FROM first_at) * 1000000)::bigint AS first_us,
                               (extract(epoch FROM last_at) * 1000000)::bigint AS last_us
                        FROM {granularity}_aggregates WHERE user_id LIKE %s""", (f"{tag}-%",))
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    return {tuple(r[k] for k in KEYS[granularity]): r for r in rows}


def _assert_same(stored, expected):
    assert stored.keys() == expected.keys()
    for key, row in expected.items():
        got = stored[key]
        for col in MEASURE_COLS:
            if isinstance(row[col], float) or isinstance(got[col], float):
                assert got[col] == pytest.approx(row[col], rel=1e-9), (key, col)
            else:
                assert got[col] == row[col], (key, col, got[col], row[col])


@pytest.fixture(scope="module")
def world(spark, kafka_bootstrap, postgres_dsn, tmp_path_factory):
    from smartwatch_jobs import aggregate as agg

    migrate(postgres_dsn)
    tmp = tmp_path_factory.mktemp("agg")
    tag = f"t{uuid.uuid4().hex[:6]}"
    registry = Registry(postgres_dsn, max_connections=1)
    registry.import_profiles([{"user_id": f"{tag}-{OWNER[s]}", "device_id": f"{tag}-{s}",
                               "time_zone": ZONES[s]} for s in ZONES if s != "d"])
    registry.close()
    events = _events(tag, seed=5)
    resent = random.Random(6).sample(events, len(events) // 20)
    _land(spark, kafka_bootstrap, tmp, [(e["device_id"].encode(), json.dumps(e).encode())
                                        for e in events + resent], postgres_dsn, "first")
    # Resent once more, after landing's deduplication window (a new checkpoint): these copies
    # reach the lake, received later and with other values, so only aggregation's
    # deduplication keeps the first.
    again = [{**e, "steps": 1 + (e["steps"] or 0), "heart_rate_bpm": 200.0,
              "sleep_state": "deep", "received_at": "2026-11-28T00:05:00+00:00"}
             for e in random.Random(7).sample(events, len(events) // 20)]
    _land(spark, kafka_bootstrap, tmp, [(e["device_id"].encode(), json.dumps(e).encode())
                                        for e in again], postgres_dsn, "again")
    lake = tmp / "lake"
    runs = {g: agg.run_window(spark, f"file://{lake}", postgres_dsn, agg.align(g, *WINDOW))
            for g in agg.GRANULARITIES}
    return {"tag": tag, "lake": lake, "tmp": tmp, "runs": runs, "events": events}


@pytest.mark.parametrize("granularity", ["daily", "weekly", "monthly"])
def test_every_column_matches_an_independent_computation(world, postgres_dsn, granularity):
    stored = _stored(postgres_dsn, world["tag"], granularity)
    expected = _expected(world["lake"], postgres_dsn, world["tag"], granularity)
    assert len(expected) > 10
    _assert_same(stored, expected)
    # The device without owner is skipped, and counted as such.
    assert not any(k[0].endswith("-ud") for k in stored)
    assert world["runs"][granularity].events_without_owner == sum(
        1 for e in world["events"] if e["device_id"].endswith("-d"))


def test_the_lake_holds_duplicates_that_aggregation_drops(world):
    db = duckdb.connect()
    rows, ids = db.execute(f"""SELECT count(*), count(DISTINCT event_id) FROM
                               read_parquet('{world['lake']}/*/*.parquet')
                               WHERE device_id LIKE '{world['tag']}-%'""").fetchone()
    assert ids == len(world["events"])
    assert rows - ids == len(world["events"]) // 20


@pytest.mark.parametrize("path", ["hashes grouped by Spark", "colliding hashes",
                                  "every event by event_id"])
def test_each_deduplication_path_gives_the_same_figures(world, spark, postgres_dsn,
                                                         monkeypatch, path):
    """The driver sorts the id hashes by default; these are the other paths: the hashes
    grouped by Spark (past the driver's bound), hashes that collide for unequal ids, and too
    many shared hashes to broadcast."""
    from pyspark.sql import functions as F

    from smartwatch_jobs import aggregate as agg

    if path == "hashes grouped by Spark":
        spark.conf.set(agg.DRIVER_HASHES_CONF, "0")
    elif path == "colliding hashes":
        monkeypatch.setattr(agg, "id_hash", lambda: F.length("event_id").cast("long"))
    else:
        monkeypatch.setattr(agg, "SHARED_HASHES_MAX", 0)
    lake = world["lake"]
    try:
        agg.run_window(spark, f"file://{lake}", postgres_dsn, agg.align("daily", *WINDOW))
    finally:
        spark.conf.unset(agg.DRIVER_HASHES_CONF)
    _assert_same(_stored(postgres_dsn, world["tag"], "daily"),
                 _expected(lake, postgres_dsn, world["tag"], "daily"))


def test_zones_localised_row_by_row_give_the_same_figures(world, spark, postgres_dsn,
                                                          monkeypatch):
    """A zone with more UTC offsets in the window than the driver lists is localised row by
    row with from_utc_timestamp; here every zone with DST is."""
    from smartwatch_jobs import aggregate as agg

    monkeypatch.setattr(agg, "MAX_OFFSETS_PER_ZONE", 1)
    agg.run_window(spark, f"file://{world['lake']}", postgres_dsn, agg.align("weekly", *WINDOW))
    _assert_same(_stored(postgres_dsn, world["tag"], "weekly"),
                 _expected(world["lake"], postgres_dsn, world["tag"], "weekly"))


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
    agg.run_window(spark, f"file://{lake}", postgres_dsn, agg.align("daily", *WINDOW))
    _assert_same(_stored(postgres_dsn, world["tag"], "daily"),
                 _expected(lake, postgres_dsn, world["tag"], "daily"))


def test_calendar_edges_are_present(world, postgres_dsn):
    tag = world["tag"]
    weekly = _stored(postgres_dsn, tag, "weekly")
    # 2021-01-01 (a Friday) belongs to ISO week 53 of 2020, which starts on 2020-12-28.
    assert (f"{tag}-ub", 2020, 53, dt.date(2020, 12, 28)) in weekly
    daily = _stored(postgres_dsn, tag, "daily")
    assert (f"{tag}-uc", dt.date(2024, 2, 29)) in daily
    # DST: Berlin's 2026-03-29 has 23 hours, 2026-10-25 has 25; readings every 45 minutes.
    short, long_ = daily[(f"{tag}-ub", dt.date(2026, 3, 29))], daily[(f"{tag}-ub",
                                                                      dt.date(2026, 10, 25))]
    assert short["readings"] in (30, 31) and long_["readings"] in (33, 34)
    # ua owns two watches: both count.
    assert daily[(f"{tag}-ua", dt.date(2026, 3, 8))]["readings"] >= 2 * 30


def test_rerun_gives_identical_figures(world, spark, postgres_dsn):
    from smartwatch_jobs import aggregate as agg

    before = {g: _stored(postgres_dsn, world["tag"], g) for g in agg.GRANULARITIES}
    agg.run_window(spark, f"file://{world['lake']}", postgres_dsn, agg.align("daily", *WINDOW))
    assert _stored(postgres_dsn, world["tag"], "daily") == before["daily"]


def test_jdbc_load_gives_the_same_rows_as_copy(world, spark, postgres_dsn):
    from smartwatch_jobs import aggregate as agg

    before = _stored(postgres_dsn, world["tag"], "weekly")
    agg.run_window(spark, f"file://{world['lake']}", postgres_dsn, agg.align("weekly", *WINDOW),
                   load="jdbc")
    assert _stored(postgres_dsn, world["tag"], "weekly") == before


def test_failure_in_the_middle_of_a_write_keeps_previous_rows(world, spark, postgres_dsn,
                                                              monkeypatch):
    from smartwatch_jobs import aggregate as agg

    before = _stored(postgres_dsn, world["tag"], "monthly")

    def broken(*args):
        raise OSError("disk full while writing")  # after the DELETE of the window

    monkeypatch.setattr(agg, "_copy_sql", broken)
    with pytest.raises(OSError, match="disk full"):
        agg.run_window(spark, f"file://{world['lake']}", postgres_dsn,
                       agg.align("monthly", *WINDOW), run=f"failing-{world['tag']}")
    assert _stored(postgres_dsn, world["tag"], "monthly") == before
    with psycopg2.connect(postgres_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT status, error FROM aggregation_runs WHERE run = %s",
                    (f"failing-{world['tag']}",))
        status, error = cur.fetchone()
    assert status == "failed" and "disk full" in error


def test_late_events_and_a_new_owner_are_picked_up_by_dirty_runs(world, spark, kafka_bootstrap,
                                                                  postgres_dsn):
    from smartwatch_jobs import aggregate as agg

    tag, lake = world["tag"], world["lake"]
    for g in agg.GRANULARITIES:  # start clean
        agg.run_dirty(spark, f"file://{lake}", postgres_dsn, g)
    late = [{**e, "event_id": e["event_id"] + "-late", "steps": 1000}
            for e in world["events"] if e["measured_at"].startswith("2024-02-29")]
    _land(spark, kafka_bootstrap, world["tmp"], [(e["device_id"].encode(), json.dumps(e).encode())
                                                 for e in late], postgres_dsn, "late")
    registry = Registry(postgres_dsn, max_connections=1)
    registry.import_profiles([{"user_id": f"{tag}-ud", "device_id": f"{tag}-d",
                               "time_zone": ZONES["d"]}])
    registry.close()
    for g in agg.GRANULARITIES:
        results = agg.run_dirty(spark, f"file://{lake}", postgres_dsn, g)
        assert results, f"no dirty {g} window"
        # Only windows around the late date and the new owner's dates: not the whole range.
        assert all((r.window.end - r.window.start).days < 120 for r in results)
        _assert_same(_stored(postgres_dsn, tag, g), _expected(lake, postgres_dsn, tag, g))
    assert any(k[0] == f"{tag}-ud" for k in _stored(postgres_dsn, tag, "daily"))
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

    from smartwatch.stack.process import free_port

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
    stored = _stored(postgres_dsn, tag, "daily")
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
            [k for k in _stored(postgres_dsn, tag, "monthly") if k[0] == user])
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
NAMED = ("2026-03-27", "2026-03-31")  # a daily window of the world with rows of every owner


def _run_row(dsn, run) -> dict | None:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("""SELECT granularity, window_from, window_to, started_at, finished_at,
                              rows_written, status, error FROM aggregation_runs WHERE run = %s""",
                    (run,))
        row = cur.fetchone()
        names = [d[0] for d in cur.description]
    return dict(zip(names, row, strict=True)) if row else None


def _runs_of_rows(dsn, table, period, start, end) -> dict[str, int]:
    """How many of the window's rows each run wrote."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT run, count(*) FROM {table} WHERE {period} BETWEEN %s AND %s "
                    "GROUP BY run", (start, end))
        return dict(cur.fetchall())


def _env(dsn, lake, tmp_path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTWATCH_", "PYSPARK_"))}
    return {**env, "SMARTWATCH_POSTGRES_DSN": dsn, "SMARTWATCH_LAKE_URI": f"file://{lake}",
            "SMARTWATCH_STATE_DIR": str(tmp_path / "no-stack")}


def test_named_run_through_the_entrypoint_and_a_rerun_under_its_name(world, postgres_dsn,
                                                                     tmp_path):
    name = f"named-{world['tag']}"
    argv = [sys.executable, "-m", "smartwatch", "aggregate", "--granularity", "daily", "--from",
            NAMED[0], "--to", NAMED[1], "--run-name", name]
    env = _env(postgres_dsn, world["lake"], tmp_path)
    before = _stored(postgres_dsn, world["tag"], "daily")
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(f"run {name}"), done.stdout
    row = _run_row(postgres_dsn, name)
    assert row is not None and row["status"] == "succeeded" and row["error"] is None
    assert (row["granularity"], str(row["window_from"]), str(row["window_to"])) == (
        "daily", *NAMED)
    # The window's rows all carry the name, as many as the run says it wrote; same figures.
    assert _runs_of_rows(postgres_dsn, "daily_aggregates", "local_date", *NAMED) == {
        name: row["rows_written"]}
    assert row["rows_written"] > 0
    assert _stored(postgres_dsn, world["tag"], "daily") == before
    # Settings came from the environment alone: no local stack folder was looked for.
    assert not (tmp_path / "no-stack").exists()

    # Again under the same name: refused in one line before Spark starts, nothing written.
    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 1
    assert again.stderr.splitlines() == [
        f"smartwatch aggregate: run {name} already succeeded (daily {NAMED[0]}..{NAMED[1]}, "
        f"finished {row['finished_at'].astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}): a name is used "
        "by one successful run; give another --run-name to recompute"], again.stderr
    assert _run_row(postgres_dsn, name) == row
    assert _runs_of_rows(postgres_dsn, "daily_aggregates", "local_date", *NAMED) == {
        name: row["rows_written"]}


@pytest.mark.parametrize("status", ["running", "failed"])
def test_a_rerun_takes_over_the_name_of_a_run_that_did_not_succeed(world, spark, postgres_dsn,
                                                                   status):
    """As when spark-operator submits the same SparkApplication again after its driver died:
    the earlier attempt left its row `running` (or `failed`) and wrote no rows."""
    from smartwatch_jobs import aggregate as agg

    name = f"again-{status}-{world['tag']}"
    earlier = dt.datetime(2026, 11, 27, 23, 0, tzinfo=dt.UTC)
    with psycopg2.connect(postgres_dsn) as conn, conn.cursor() as cur:
        cur.execute("""INSERT INTO aggregation_runs (run, granularity, window_from, window_to,
                         started_at, status, error) VALUES (%s, 'weekly', '2026-03-02',
                         '2026-03-08', %s, %s, %s)""",
                    (name, earlier, status, "driver pod lost" if status == "failed" else None))
    window = agg.align("daily", *map(dt.date.fromisoformat, NAMED))
    result = agg.run_window(spark, f"file://{world['lake']}", postgres_dsn, window, name)
    assert result.run == name and result.replaced is not None
    assert result.replaced.startswith(f"{status} (weekly 2026-03-02..2026-03-08, ")
    row = _run_row(postgres_dsn, name)
    assert row["status"] == "succeeded" and row["error"] is None
    assert row["started_at"] > earlier and row["rows_written"] == result.rows > 0
    assert (row["granularity"], row["window_from"], row["window_to"]) == (
        "daily", window.start, window.end)
    assert _runs_of_rows(postgres_dsn, "daily_aggregates", "local_date", *NAMED) == {
        name: result.rows}


def test_an_attempt_whose_name_was_taken_over_while_it_ran_writes_nothing(world, spark,
                                                                          postgres_dsn,
                                                                          monkeypatch):
    from smartwatch_jobs import aggregate as agg

    name = f"raced-{world['tag']}"
    window = agg.align("daily", *map(dt.date.fromisoformat, NAMED))
    rows_before = _runs_of_rows(postgres_dsn, "daily_aggregates", "local_date", *NAMED)
    newer = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    load_owners = agg.load_owners

    def owners_then_a_newer_attempt(spark_session, conn):
        out = load_owners(spark_session, conn)
        other = psycopg2.connect(postgres_dsn)  # the other driver claims the same name
        try:
            assert agg.claim_run(other, name, window, newer) is not None
        finally:
            other.close()
        return out

    monkeypatch.setattr(agg, "load_owners", owners_then_a_newer_attempt)
    with pytest.raises(agg.RunConflict, match="taken over by a newer attempt"):
        agg.run_window(spark, f"file://{world['lake']}", postgres_dsn, window, name)
    assert _runs_of_rows(postgres_dsn, "daily_aggregates", "local_date", *NAMED) == rows_before
    row = _run_row(postgres_dsn, name)  # the newer attempt's, untouched by the older one
    assert (row["status"], row["started_at"], row["error"]) == ("running", newer, None)


def test_a_named_dirty_run_names_each_window_and_is_not_repeated(world, spark, postgres_dsn):
    from smartwatch_jobs import aggregate as agg

    lake = f"file://{world['lake']}"
    name = f"dirty-{world['tag']}"
    agg.run_dirty(spark, lake, postgres_dsn, "weekly")  # start clean

    def dirty(*dates):
        with psycopg2.connect(postgres_dsn) as conn, conn.cursor() as cur:
            for d in dates:
                cur.execute("""INSERT INTO dirty_dates (event_date, rows) VALUES (%s, 1)
                               ON CONFLICT (event_date) DO UPDATE
                               SET last_dirtied_at = clock_timestamp()""", (d,))

    dirty("2026-03-29", "2024-02-29")
    results = agg.run_dirty(spark, lake, postgres_dsn, "weekly", name)
    # Two windows of whole ISO weeks, each its own run, named after its Monday.
    assert [(r.window.start, r.run) for r in results] == [
        (dt.date(2024, 2, 26), f"{name}-20240226"), (dt.date(2026, 3, 23), f"{name}-20260323")]
    for r in results:
        row = _run_row(postgres_dsn, r.run)
        assert (row["status"], row["granularity"], row["window_from"], row["window_to"]) == (
            "succeeded", "weekly", r.window.start, r.window.end)
        assert _runs_of_rows(postgres_dsn, "weekly_aggregates", "week_start", r.window.start,
                             r.window.end) == {r.run: r.rows}
    rows = {r.run: _run_row(postgres_dsn, r.run) for r in results}

    # The same name again (new data in one of the weeks): refused before any window is
    # written; the dates stay dirty for the next run.
    dirty("2026-03-29")
    with pytest.raises(agg.RunConflict, match=f"run {name}-20260323 already succeeded"):
        agg.run_dirty(spark, lake, postgres_dsn, "weekly", name)
    assert {r.run: _run_row(postgres_dsn, r.run) for r in results} == rows
    with psycopg2.connect(postgres_dsn) as conn:
        assert dt.date(2026, 3, 29) in agg.dirty_utc_dates(conn, "weekly")[0]
    later = agg.run_dirty(spark, lake, postgres_dsn, "weekly", f"{name}-b")
    assert [r.run for r in later] == [f"{name}-b-20260323"]


def test_submit_script_under_spark_submit(world, postgres_dsn, tmp_path):
    """submit.py as the SparkApplication's driver runs it: spark-submit gives master and conf,
    the environment gives the settings; neither the settings' master nor the set-up cache's
    jars are used (both point nowhere here)."""
    import pyspark

    spark_submit = f"{pyspark.__path__[0]}/bin/spark-submit"
    name = f"submitted-{world['tag']}"
    env = {**_env(postgres_dsn, world["lake"], tmp_path), "PYSPARK_PYTHON": sys.executable,
           "PYSPARK_DRIVER_PYTHON": sys.executable, "SMARTWATCH_SPARK_MASTER": "nowhere://x",
           "SMARTWATCH_CACHE": str(tmp_path / "empty-cache")}
    loopback = ["--conf", "spark.driver.host=127.0.0.1", "--conf",
                "spark.driver.bindAddress=127.0.0.1"]
    done = subprocess.run([spark_submit, "--master", "local[2]", *loopback,
                           str(toolchain_submit()), "aggregate", "--granularity", "monthly",
                           "--from", "2024-02-01", "--to", "2024-02-29", "--run-name", name],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"run {name}" in done.stdout
    row = _run_row(postgres_dsn, name)
    assert row["status"] == "succeeded" and row["rows_written"] > 0

    # What the session took from spark-submit, and what it added.
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import json, sys\n"
        f"sys.path[:0] = {[str(toolchain_submit().parents[2] / d) for d in ('services', 'jobs')]!r}\n"
        "from smartwatch.settings import Settings\n"
        "from smartwatch_jobs.spark import session\n"
        "s = session('smartwatch-probe', Settings(), 4)\n"
        "c = s.sparkContext.getConf()\n"
        "print(json.dumps({'master': s.sparkContext.master, 'app': c.get('spark.app.name'),\n"
        "                  'jars': c.get('spark.jars'),\n"
        "                  'shuffle': s.conf.get('spark.sql.shuffle.partitions'),\n"
        "                  'zone': s.conf.get('spark.sql.session.timeZone'),\n"
        "                  'ts': s.conf.get('spark.sql.parquet.outputTimestampType')}))\n"
        "s.stop()\n")
    jar = sorted(Path(pyspark.__path__[0], "jars").glob("*.jar"))[0]
    done = subprocess.run([spark_submit, "--master", "local[1]", "--name", "from-submit",
                           "--jars", str(jar), *loopback,
                           "--conf", "spark.sql.shuffle.partitions=3",
                           "--conf", "spark.sql.session.timeZone=America/New_York", str(probe)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"master": "local[1]", "app": "from-submit", "jars": f"file://{jar}",
                    "shuffle": "3", "zone": "UTC", "ts": "TIMESTAMP_MICROS"}


def toolchain_submit():
    from smartwatch.toolchain import REPO_ROOT

    return REPO_ROOT / "jobs" / "smartwatch_jobs" / "submit.py"
