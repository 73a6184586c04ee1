"""The landing job with real Kafka, Spark and Postgres: produced events, with resends and
junk, end in the lake as each valid Kafka record once, compared field by field, and after
compaction as each unique event once, its first received copy; junk is in quarantine with
its reason; the dirty dates are exactly the dates that received rows. (SIGKILL in the middle
of a batch: tests/faults/test_landing_killed.py.)"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import duckdb
import psycopg2
import pytest

from smartwatch.db import migrate
from tests.integration.jobs.landing_data import (
    YEAR,
    expected_row,
    junk,
    kafka_records,
    make_events,
    produce,
)

pytestmark = pytest.mark.integration

EVENT_COLUMNS = ["schema_version", "event_id", "device_id", "measured_at", "heart_rate_bpm",
                 "steps", "sleep_state", "time_source", "time_zone", "received_at", "event_date"]


def read_lake(lake: Path) -> list[dict]:
    files = list(lake.glob("event_date=*/*.parquet"))
    if not files:
        return []
    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    cols = [f"CAST({c} AS TIMESTAMP)" if c in ("measured_at", "received_at") else c
            for c in EVENT_COLUMNS]  # UTC wall time, naive
    rel = db.execute(f"SELECT {', '.join(cols)} FROM read_parquet('{lake}/*/*.parquet', "
                     "hive_partitioning = true)")
    return [dict(zip(EVENT_COLUMNS, row, strict=True)) for row in rel.fetchall()]


def read_positions(lake: Path) -> list[tuple[tuple[str, str], int, int]]:
    """((device_id, event_id), kafka_partition, kafka_offset) of each lake row."""
    return [((d, e), p, o) for d, e, p, o in duckdb.connect().execute(
        "SELECT device_id, event_id, kafka_partition, kafka_offset "
        f"FROM read_parquet('{lake}/*/*.parquet')").fetchall()]


def identity(e: dict) -> tuple[str, str]:
    """A reading's identity: ids are the device's own (every device here has a reading "0")."""
    return e["device_id"], e["event_id"]


def assert_each_record_once(lake: Path, produced: list[dict], events: list[dict]) -> list[dict]:
    """The raw lake's guarantee: each valid Kafka record exactly once (a resend is a record of
    its own), each row the event as sent. Returns the rows."""
    rows = read_lake(lake)
    positions = read_positions(lake)
    assert len(set((p, o) for _, p, o in positions)) == len(positions), "a record landed twice"
    assert Counter(map(identity, rows)) == Counter(map(identity, produced))
    expected = {identity(e): expected_row(e) for e in events}
    assert [r for r in rows if r != expected[identity(r)]] == []
    return rows


def assert_each_event_once(lake: Path, events: list[dict],
                           before: list[tuple[str, int, int]]) -> None:
    """A compacted lake's guarantee: each unique event once, the first of its copies (the same
    content here; then the lowest Kafka position, as they share a key and a partition)."""
    rows = read_lake(lake)
    assert len(rows) == len(events)
    assert {identity(r): r for r in rows} == {identity(e): expected_row(e) for e in events}
    first: dict[tuple[str, str], tuple[int, int]] = {}
    for key, partition, offset in sorted(before):
        first.setdefault(key, (partition, offset))
    assert {e: (p, o) for e, p, o in read_positions(lake)} == first


def read_quarantine(path: Path) -> list[tuple]:
    if not list(path.glob("*/*.parquet")):
        return []
    return duckdb.connect().execute(
        f"SELECT error, raw, topic, kafka_partition, kafka_offset FROM read_parquet('{path}/*/*.parquet', "
        "hive_partitioning = true)").fetchall()


def landed_counts(dsn: str, landing_id: str) -> dict[dt.date, int]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT event_date, sum(rows) FROM landing_batches WHERE landing_id = %s "
                    "GROUP BY 1", (landing_id,))
        return {d: int(n) for d, n in cur.fetchall()}


def dirty_dates_of_year(dsn: str) -> dict[dt.date, int]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT event_date, rows FROM dirty_dates WHERE extract(year FROM event_date) = %s",
                    (YEAR,))
        return dict(cur.fetchall())


def test_lake_holds_each_record_then_compaction_each_event_once(spark, kafka_bootstrap,
                                                                postgres_dsn, tmp_path) -> None:
    from smartwatch_jobs import compact as compaction
    from smartwatch_jobs import landing

    migrate(postgres_dsn)
    events, produced = make_events(n_devices=4, per_device=150, seed=1)
    bad = junk(max_bytes=4096)
    topic = produce(kafka_bootstrap, kafka_records(produced, bad))
    cfg = landing.LandingConfig(
        bootstrap=kafka_bootstrap, topic=topic, lake=f"file://{tmp_path / 'lake'}",
        quarantine=(tmp_path / "q").as_uri(), checkpoint=(tmp_path / "ckpt").as_uri(),
        postgres_dsn=postgres_dsn, max_record_bytes=4096, max_offsets_per_trigger=250)
    landing.run(spark, cfg, available_now=True, trigger_seconds=1)

    rows = assert_each_record_once(tmp_path / "lake", produced, events)
    assert len(rows) == len(produced) > len(events)  # the resends are there
    # The lake identifies itself to the aggregation (smartwatch_jobs.lakeroot).
    from smartwatch_jobs.lakeroot import MARKER, MARKER_TEXT
    assert (tmp_path / "lake" / MARKER).read_text() == MARKER_TEXT

    quarantined = read_quarantine(tmp_path / "q")
    assert len(quarantined) == len(bad)
    for value, reason in bad:
        raw = None if value is None else value.decode()
        match = [q for q in quarantined if q[1] == raw]
        assert len(match) == 1 and reason in match[0][0], (reason, match)
        assert match[0][2] == topic and match[0][4] >= 0

    landing_id = (tmp_path / "ckpt" / "smartwatch-landing-id").read_text().strip()
    by_date = Counter(r["event_date"] for r in rows)
    assert landed_counts(postgres_dsn, landing_id) == dict(by_date)
    assert dirty_dates_of_year(postgres_dsn) == dict(by_date)

    before = read_positions(tmp_path / "lake")
    results = compaction.compact(spark, f"file://{tmp_path / 'lake'}", cfg.checkpoint,
                                 min(by_date), max(by_date))
    assert {r.date for r in results} == set(by_date)
    assert sum(r.copies_dropped for r in results) == len(produced) - len(events)
    assert_each_event_once(tmp_path / "lake", events, before)


def test_compaction_is_atomic_for_readers(spark, kafka_bootstrap, postgres_dsn, tmp_path) -> None:
    import threading

    from smartwatch_jobs import compact as compaction
    from smartwatch_jobs import landing

    _, produced = make_events(n_devices=3, per_device=100, seed=3)
    topic = produce(kafka_bootstrap, kafka_records(produced, []))
    lake = tmp_path / "lake"
    cfg = landing.LandingConfig(
        bootstrap=kafka_bootstrap, topic=topic, lake=f"file://{lake}",
        quarantine=(tmp_path / "q").as_uri(), checkpoint=(tmp_path / "ckpt").as_uri(),
        postgres_dsn=None, max_offsets_per_trigger=40)
    landing.run(spark, cfg, available_now=True, trigger_seconds=1)
    before = read_lake(lake)
    day = dt.date(YEAR, 3, 2)
    folder = lake / f"event_date={day}"
    small_files = len(list(folder.glob("*.parquet")))
    assert small_files > 3
    count_before = sum(1 for r in before if r["event_date"] == day)
    count_after = len({identity(r) for r in before if r["event_date"] == day})
    assert count_after < count_before  # the date has resent copies, which compaction drops

    seen, failures, stop = [], [], threading.Event()

    def reader() -> None:
        db = duckdb.connect()
        while not stop.is_set():
            try:
                seen.append(db.execute(f"SELECT count(*) FROM read_parquet('{folder}/*.parquet')")
                            .fetchone()[0])
            except duckdb.IOException:  # listed before the swap, opened after: retried
                failures.append(1)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        results = compaction.compact(spark, f"file://{lake}", (tmp_path / "ckpt").as_uri(),
                                     dt.date(YEAR, 3, 1), dt.date(YEAR, 3, 6))
    finally:
        stop.set()
        thread.join()
    assert {r.date for r in results} >= {day}
    assert len(list(folder.glob("*.parquet"))) == 1
    # Each reading saw the old files or the new ones, never a mix: the old count, then the new.
    assert seen and set(seen) <= {count_before, count_after}, "a reader saw a mix of files"
    assert seen == sorted(seen, reverse=True), "a reader saw the old files after the new"
    after = read_lake(lake)
    assert sorted(after, key=identity) == sorted({identity(r): r for r in before}.values(),
                                                 key=identity)
