"""The aggregation tests' world: users in four zones, DST starts and ends, resent and late
readings, an ISO week across a year boundary, a leap day and a device with no owner yet,
landed through real Kafka and Spark; and the independent computation (DuckDB over the same
lake) the stored figures are compared with."""

from __future__ import annotations

import datetime as dt
import random

import duckdb
import psycopg2
import pytest

from tests.integration.jobs.landing_data import produce

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


def world_events(tag: str, seed: int, minutes: int = 45) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for short in ZONES:
        device = f"{tag}-{short}"
        # Ids numbered per device from 1, as watch firmware does: every device of the world
        # has a reading "1", "2", ..., and each is a reading of its own.
        number = 0
        for first, last in RANGES:
            t = dt.datetime.fromisoformat(first).replace(tzinfo=dt.UTC) + dt.timedelta(
                minutes=rng.randint(0, 30))
            end = dt.datetime.fromisoformat(last).replace(tzinfo=dt.UTC) + dt.timedelta(days=1)
            while t < end:
                i, number = len(out), number + 1
                state = ["awake", "light", "deep", "rem", "asleep", "unknown", None][i % 7]
                out.append({"schema_version": 1, "event_id": str(number), "device_id": device,
                            "measured_at": t.isoformat(),
                            "heart_rate_bpm": None if i % 9 == 0 else float(45 + rng.randint(0, 90)),
                            "steps": None if i % 13 == 0 else rng.randint(0, 400),
                            "sleep_state": state if i % 9 or i % 13 else "awake",
                            "time_source": "offset", "time_zone": None,
                            "received_at": "2026-11-28T00:00:00+00:00"})
                t += dt.timedelta(minutes=minutes)
    return out


def land_events(spark, bootstrap, tmp_path, records, dsn, name):
    from smartwatch_jobs import landing

    topic = produce(bootstrap, records)
    cfg = landing.LandingConfig(bootstrap=bootstrap, topic=topic, lake=f"file://{tmp_path / 'lake'}",
                                quarantine=f"file://{tmp_path / 'q'}",
                                checkpoint=f"file://{tmp_path / ('ckpt-' + name)}",
                                postgres_dsn=dsn)
    landing.run(spark, cfg, available_now=True, trigger_seconds=1)


def expected_figures(lake, dsn, tag, granularity) -> dict[tuple, dict]:
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
            QUALIFY row_number() OVER (PARTITION BY device_id, event_id
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


def stored_figures(dsn, tag, granularity) -> dict[tuple, dict]:
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


def assert_same(stored, expected):
    assert stored.keys() == expected.keys()
    for key, row in expected.items():
        got = stored[key]
        for col in MEASURE_COLS:
            if isinstance(row[col], float) or isinstance(got[col], float):
                assert got[col] == pytest.approx(row[col], rel=1e-9), (key, col)
            else:
                assert got[col] == row[col], (key, col, got[col], row[col])


