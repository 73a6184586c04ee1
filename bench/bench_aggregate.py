"""Aggregation, same run, same data:

- daily figures of N events (default 20M, BENCH_AGG_EVENTS, and a resent copy of 1 % of them)
  over 90 days into Postgres with
  the Spark job, against DuckDB computing the same figures from the same Parquet;
- with those 90 days as history, a `--dirty` run after one new day against recomputing
  everything (the prototype's approach).

The lake is written by DuckDB in the landing job's layout (event_date partitions, the same
columns), which is much faster to produce than pushing N events through Kafka.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import duckdb
import psycopg2

from smartwatch.settings import Settings
from smartwatch_dev import toolchain
from smartwatch_dev.stack import Stack
from smartwatch_dev.toolchain import REPO_ROOT

EVENTS = int(os.environ.get("BENCH_AGG_EVENTS", 20_000_000))
DEVICES = 2000
DAYS = 90
DUPLICATE_EVERY = 100  # 1 % of readings resent
ZONES = ("America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Sydney")
START = dt.date(2026, 6, 1)


def _write_lake(lake, n: int, first_day: dt.date, days: int, offset: int) -> None:
    """n readings, and a resent copy of every DUPLICATE_EVERY-th one, received later with other
    values (so only the first received may count). Kafka positions are unique, as landing
    writes them: a write's offsets start at 2 * offset."""
    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    db.execute(f"""COPY (
        WITH r AS (
            SELECT i, 'e' || (i + {offset}) AS event_id, 'dev' || (i % {DEVICES}) AS device_id,
                   TIMESTAMPTZ '{first_day} 00:00:00+00' + to_seconds(i * ({days} * 86400) // {n})
                     AS measured_at,
                   CASE WHEN i % 10 = 0 THEN NULL ELSE 50 + (i % 97)::DOUBLE END AS heart_rate_bpm,
                   (i % 130)::BIGINT AS steps,
                   ['awake', 'light', 'deep', 'rem', 'awake'][1 + i % 5] AS sleep_state,
                   TIMESTAMPTZ '2026-11-28 00:00:00+00' AS received_at,
                   (2 * {offset} + i)::BIGINT AS kafka_offset
            FROM range({n}) t(i)
            UNION ALL
            SELECT i, 'e' || (i + {offset}), 'dev' || (i % {DEVICES}),
                   TIMESTAMPTZ '{first_day} 00:00:00+00' + to_seconds(i * ({days} * 86400) // {n}),
                   99, 1000, 'deep', TIMESTAMPTZ '2026-11-28 00:05:00+00',
                   (2 * {offset} + {n} + i)::BIGINT
            FROM range(0, {n}, {DUPLICATE_EVERY}) t(i))
        SELECT 1::BIGINT AS schema_version, event_id, device_id, measured_at, heart_rate_bpm,
               steps, sleep_state, 'offset' AS time_source, NULL::VARCHAR AS time_zone,
               received_at, (i % 6)::INTEGER AS kafka_partition, kafka_offset,
               received_at AS kafka_timestamp, CAST(measured_at AS DATE) AS event_date
        FROM r)
        TO '{lake}' (FORMAT parquet, PARTITION_BY (event_date), APPEND true,
                     FILENAME_PATTERN 'part-bench{offset}-{{uuid}}')""")


def _duckdb_daily(lake, owners) -> tuple[float, int]:
    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    db.execute("CREATE TABLE owners (device_id VARCHAR, user_id VARCHAR, time_zone VARCHAR)")
    db.executemany("INSERT INTO owners VALUES (?, ?, ?)", owners)
    t0 = time.perf_counter()
    n = db.execute(f"""
        WITH e AS (SELECT * FROM read_parquet('{lake}/*/*.parquet', hive_partitioning = true)
                   QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY received_at,
                           kafka_partition, kafka_offset) = 1),
        l AS (SELECT e.*, o.user_id, CAST(timezone(o.time_zone, e.measured_at) AS DATE) AS d,
                     e.sleep_state IN ('light', 'deep', 'rem', 'asleep') AS asleep
              FROM e JOIN owners o USING (device_id))
        SELECT count(*) FROM (
            SELECT user_id, d, sum(steps), count(heart_rate_bpm), sum(heart_rate_bpm),
                   min(heart_rate_bpm), max(heart_rate_bpm),
                   count(heart_rate_bpm) FILTER (WHERE asleep),
                   sum(heart_rate_bpm) FILTER (WHERE asleep), count(*), min(measured_at),
                   max(measured_at)
            FROM l GROUP BY ALL)""").fetchone()[0]
    return time.perf_counter() - t0, n


def _register(dsn: str) -> list[tuple[str, str, str]]:
    """The benchmark's owners (device, user, zone), registered."""
    from smartwatch.registry import Registry

    owners = [(f"dev{i}", f"user{i}", ZONES[i % len(ZONES)]) for i in range(DEVICES)]
    registry = Registry(dsn, max_connections=1)
    registry.import_profiles([{"user_id": u, "device_id": d, "time_zone": z}
                              for d, u, z in owners])
    registry.close()
    return owners


def _window_rows(spark, lake: Path, dsn: str, owners) -> list[dict[str, object]]:
    """One window of all days: DuckDB against the job, then warm reruns by load."""
    from smartwatch.periods import align
    from smartwatch_jobs import aggregate as agg

    duck_s, duck_rows = _duckdb_daily(lake, owners)
    alone_s = _new_jvm_group_seconds(lake)
    window = align("daily", START - dt.timedelta(days=1), START + dt.timedelta(days=DAYS))
    t0 = time.perf_counter()
    result = agg.run_window(spark, f"file://{lake}", dsn, window)
    spark_s = time.perf_counter() - t0
    loads = {}
    for load in ("copy", "jdbc"):  # warm, one after the other: the bulk load compared
        t0 = time.perf_counter()
        agg.run_window(spark, f"file://{lake}", dsn, window, load=load)
        loads[load] = time.perf_counter() - t0
    return [
        {"case": f"DuckDB, daily figures of {EVENTS:,} events and {EVENTS // DUPLICATE_EVERY:,}"
                 f" resent copies ({duck_rows:,} rows)",
         "value": round(duck_s, 1), "unit": "s"},
        {"case": f"Spark job, the same into Postgres ({result.rows:,} rows, COPY)",
         "value": round(spark_s, 1), "unit": "s"},
        {"case": "Spark job / DuckDB", "value": round(spark_s / duck_s, 1), "unit": "x",
         "target": "<= 3"},
        {"case": "ceiling: Spark alone, first run in a new JVM: read the events' columns, count "
                 "and sum them per device and UTC date (no dedup, no zones, nothing stored)",
         "value": round(alone_s, 1), "unit": "s"},
        {"case": "Spark alone / DuckDB", "value": round(alone_s / duck_s, 1), "unit": "x"},
        {"case": "the same window again (warm), loaded with COPY",
         "value": round(loads["copy"], 1), "unit": "s"},
        {"case": "the same window again (warm), loaded with JDBC batched inserts",
         "value": round(loads["jdbc"], 1), "unit": "s"},
    ]


def _new_jvm_group_seconds(lake: Path) -> float:
    """Spark alone grouping the lake in a JVM of its own (this file run as a script), its
    start-up excluded: what a first run costs Spark itself."""
    out = subprocess.run([sys.executable, __file__, str(lake)], check=True,
                         capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def _group_in_new_jvm(lake: str) -> None:
    from pyspark.sql import functions as F

    from smartwatch_jobs.spark import quiet, session

    settings = Settings(kafka_bootstrap=None, postgres_dsn=None, kubeconfig=None,
                        **toolchain.spark_settings()).model_copy(
        update={"spark_master": "local[*]"})
    spark = quiet(session("bench-aggregate-ceiling", settings, 8))
    try:
        t0 = time.perf_counter()
        (spark.read.parquet(f"file://{lake}").groupBy("device_id", "event_date")
         .agg(F.count("*"), F.sum("steps"), F.avg("heart_rate_bpm"), F.min("measured_at"),
              F.max("measured_at")).collect())
        print(time.perf_counter() - t0)
    finally:
        spark.stop()


def _dirty_rows(spark, lake: Path, dsn: str) -> list[dict[str, object]]:
    """History clean, one new day arrives: --dirty against recomputing everything."""
    from smartwatch.periods import align
    from smartwatch_jobs import aggregate as agg

    agg.run_dirty(spark, f"file://{lake}", dsn, "daily")
    new_day = START + dt.timedelta(days=DAYS)
    per_day = EVENTS // DAYS
    _write_lake(lake, per_day, new_day, 1, EVENTS)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO dirty_dates (event_date, rows) VALUES (%s, %s)",
                    (new_day, per_day))
    t0 = time.perf_counter()
    dirty = agg.run_dirty(spark, f"file://{lake}", dsn, "daily")
    dirty_s = time.perf_counter() - t0
    full_window = align("daily", START - dt.timedelta(days=1), new_day + dt.timedelta(days=1))
    t0 = time.perf_counter()
    agg.run_window(spark, f"file://{lake}", dsn, full_window)
    full_s = time.perf_counter() - t0
    return [
        {"case": f"--dirty after 1 new day ({len(dirty)} window(s))",
         "value": round(dirty_s, 1), "unit": "s"},
        {"case": f"recompute all {DAYS + 1} days", "value": round(full_s, 1), "unit": "s"},
        {"case": "recompute all / --dirty", "value": round(full_s / dirty_s, 1), "unit": "x",
         "target": ">= 10"},
    ]


def run() -> list[dict[str, object]]:
    from smartwatch.db import migrate
    from smartwatch_jobs.spark import quiet, session

    state = REPO_ROOT / ".stack" / f"bench-agg-{uuid.uuid4().hex[:8]}"
    settings = Settings(kafka_bootstrap=None, postgres_dsn=None, kubeconfig=None,
                        **toolchain.spark_settings())
    stack = Stack(settings, state)
    spark = None
    try:
        stack.up(only=("postgres",))
        dsn = stack.status()["postgres_dsn"]
        migrate(dsn)
        owners = _register(dsn)
        lake = state / "lake"
        lake.mkdir(parents=True)
        _write_lake(lake, EVENTS, START, DAYS, 0)
        spark = quiet(session("bench-aggregate", settings.model_copy(
            update={"spark_master": "local[*]"}), 8))
        return _window_rows(spark, lake, dsn, owners) + _dirty_rows(spark, lake, dsn)
    finally:
        if spark is not None:
            spark.stop()
        stack.purge()


if __name__ == "__main__":
    _group_in_new_jvm(sys.argv[1])
