"""The aggregation's transforms (smartwatch_jobs.aggregate.transforms), each on a handful of
hand-written rows, compared with hand-written expected rows: deduplication by (device_id,
event_id), local
days around DST, ISO weeks across a year end, weekly figures from sums and counts, sleep heart
rate, the window's rows and the text of times; then the figures of a few events end to end."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.testing import assertDataFrameEqual

from smartwatch.periods import align
from smartwatch_jobs.aggregate import compute, owners
from smartwatch_jobs.aggregate.lake import LAKE_SCHEMA
from smartwatch_jobs.aggregate.owners import make_owners, owner_frame, utc_span
from smartwatch_jobs.aggregate.transforms import (
    dedup_by_id,
    in_window,
    localise,
    measures,
    utc_text,
)

pytestmark = pytest.mark.spark

D = dt.date
RECEIVED = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
MEASURES_DDL = ("total_steps bigint, hr_samples bigint, hr_sum double, avg_hr double, "
                "min_hr double, max_hr double, sleep_hr_samples bigint, sleep_hr_sum double, "
                "avg_sleep_hr double, readings bigint, first_at timestamp, last_at timestamp")


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def lake_rows(spark, rows: list[dict]):
    """Lake rows (LAKE_SCHEMA) of partial dicts: the fields not given are defaults."""
    defaults = {"event_id": None, "device_id": "w1", "measured_at": None,
                "heart_rate_bpm": None, "steps": None, "sleep_state": None,
                "received_at": RECEIVED, "kafka_partition": 0, "kafka_offset": 0,
                "event_date": None}
    full = []
    for i, row in enumerate(rows):
        r = {**defaults, "event_id": f"e{i}", "kafka_offset": i, **row}
        r["event_date"] = r["event_date"] or r["measured_at"].date()
        full.append(tuple(r[f.name] for f in LAKE_SCHEMA.fields))
    return spark.createDataFrame(full, LAKE_SCHEMA)


def localised(spark, events, zone: str, granularity: str, first: dt.date, last: dt.date):
    own = make_owners(spark, [("w1", "u1", zone)])
    devices, width = owner_frame(spark, own, *utc_span(align(granularity, first, last)))
    return localise(events, devices, width, granularity)


def test_duplicates_by_device_and_event_id_count_once(spark) -> None:
    """The first received copy wins, then the lowest Kafka partition, then offset."""
    at = utc(2026, 6, 1, 8)
    events = lake_rows(spark, [
        {"event_id": "a", "measured_at": at, "steps": 10, "received_at": utc(2026, 6, 1, 10)},
        {"event_id": "a", "measured_at": at, "steps": 20, "received_at": utc(2026, 6, 1, 9),
         "kafka_partition": 1, "kafka_offset": 9},
        {"event_id": "b", "measured_at": at, "steps": 1, "kafka_offset": 7},
        {"event_id": "b", "measured_at": at, "steps": 2, "kafka_offset": 3},
        {"event_id": "c", "measured_at": at, "steps": 3, "heart_rate_bpm": 61.0,
         "sleep_state": "rem"},
        {"event_id": "d", "measured_at": at, "steps": 4, "kafka_partition": 2, "kafka_offset": 1},
        {"event_id": "d", "measured_at": at, "steps": 5, "kafka_partition": 1, "kafka_offset": 8},
        # Another watch's ids are its own: its `a` and `b` are readings of their own.
        {"event_id": "a", "device_id": "w2", "measured_at": at, "steps": 30, "kafka_offset": 11},
        {"event_id": "b", "device_id": "w2", "measured_at": at, "steps": 40, "kafka_offset": 12},
        {"event_id": "b", "device_id": "w2", "measured_at": at, "steps": 41, "kafka_offset": 13},
    ])
    expected = spark.createDataFrame(
        [("a", "w1", at, None, 20, None), ("b", "w1", at, None, 2, None),
         ("c", "w1", at, 61.0, 3, "rem"), ("d", "w1", at, None, 5, None),
         ("a", "w2", at, None, 30, None), ("b", "w2", at, None, 40, None)],
        "event_id string, device_id string, measured_at timestamp, heart_rate_bpm double, "
        "steps bigint, sleep_state string")
    assertDataFrameEqual(dedup_by_id(events), expected)


@pytest.mark.parametrize("path", ["offsets listed", "row by row"])
def test_a_dst_day_has_23_local_hours(spark, monkeypatch, path) -> None:
    """Berlin moves from UTC+1 to UTC+2 at 01:00Z on 2026-03-29: that local day has 23
    hours. Hourly readings from 22:00Z on the 28th to 22:00Z on the 29th."""
    if path == "row by row":  # more offsets in the span than listed: from_utc_timestamp
        monkeypatch.setattr(owners, "MAX_OFFSETS_PER_ZONE", 1)
    hours = [utc(2026, 3, 28, 22) + dt.timedelta(hours=h) for h in range(25)]
    events = lake_rows(spark, [{"measured_at": t, "steps": 1} for t in hours]
                       + [{"device_id": "stray", "measured_at": utc(2026, 3, 29, 12)}])
    out = localised(spark, events, "Europe/Berlin", "daily", D(2026, 3, 28), D(2026, 3, 30))
    edges = [utc(2026, 3, 28, 22), utc(2026, 3, 28, 23), utc(2026, 3, 29, 0), utc(2026, 3, 29, 1),
             utc(2026, 3, 29, 21), utc(2026, 3, 29, 22)]
    assertDataFrameEqual(
        out.filter(out.measured_at.isin(edges) | (out.device_id == "stray"))
        .select("device_id", "measured_at", "user_key", "owner_zone", "local_date"),
        spark.createDataFrame([
            ("w1", utc(2026, 3, 28, 22), 0, "Europe/Berlin", D(2026, 3, 28)),  # 23:00 CET
            ("w1", utc(2026, 3, 28, 23), 0, "Europe/Berlin", D(2026, 3, 29)),  # 00:00 CET
            ("w1", utc(2026, 3, 29, 0), 0, "Europe/Berlin", D(2026, 3, 29)),   # 01:00 CET
            ("w1", utc(2026, 3, 29, 1), 0, "Europe/Berlin", D(2026, 3, 29)),   # 03:00 CEST
            ("w1", utc(2026, 3, 29, 21), 0, "Europe/Berlin", D(2026, 3, 29)),  # 23:00 CEST
            ("w1", utc(2026, 3, 29, 22), 0, "Europe/Berlin", D(2026, 3, 30)),  # 00:00 CEST
            ("stray", utc(2026, 3, 29, 12), None, None, None)],                # no owner
            "device_id string, measured_at timestamp, user_key int, owner_zone string, "
            "local_date date"))
    assertDataFrameEqual(
        measures(out, "daily").select("user_key", "local_date", "readings", "total_steps"),
        spark.createDataFrame([(0, D(2026, 3, 28), 1, 1), (0, D(2026, 3, 29), 23, 23),
                               (0, D(2026, 3, 30), 1, 1), (None, None, 1, 0)],
                              "user_key int, local_date date, readings bigint, "
                              "total_steps bigint"))


def test_iso_weeks_across_a_year_end_take_the_iso_year(spark) -> None:
    """In Tokyo (UTC+9): 2021-01-01 is in 2020-W53; 15:30Z on 2021-01-03 is already Monday
    2021-01-04 there, in 2021-W01; 2025-12-29 starts 2026-W01; 2026 has a W53."""
    instants = [utc(2020, 12, 31, 12), utc(2021, 1, 1, 3), utc(2021, 1, 3, 14, 59),
                utc(2021, 1, 3, 15, 30), utc(2025, 12, 29, 1), utc(2026, 12, 31, 12)]
    events = lake_rows(spark, [{"measured_at": t} for t in instants])
    out = localised(spark, events, "Asia/Tokyo", "weekly", D(2020, 12, 28), D(2027, 1, 3))
    assertDataFrameEqual(
        out.select("measured_at", "local_date", "iso_year", "iso_week", "week_start"),
        spark.createDataFrame([
            (utc(2020, 12, 31, 12), D(2020, 12, 31), 2020, 53, D(2020, 12, 28)),
            (utc(2021, 1, 1, 3), D(2021, 1, 1), 2020, 53, D(2020, 12, 28)),
            (utc(2021, 1, 3, 14, 59), D(2021, 1, 3), 2020, 53, D(2020, 12, 28)),
            (utc(2021, 1, 3, 15, 30), D(2021, 1, 4), 2021, 1, D(2021, 1, 4)),
            (utc(2025, 12, 29, 1), D(2025, 12, 29), 2026, 1, D(2025, 12, 29)),
            (utc(2026, 12, 31, 12), D(2026, 12, 31), 2026, 53, D(2026, 12, 28))],
            "measured_at timestamp, local_date date, iso_year int, iso_week int, "
            "week_start date"))


def test_months_are_local_calendar_months(spark) -> None:
    """15:30Z on 2026-10-31 is 00:30 on November 1st in Tokyo."""
    events = lake_rows(spark, [{"measured_at": utc(2026, 10, 31, 14, 59)},
                               {"measured_at": utc(2026, 10, 31, 15, 30)}])
    out = localised(spark, events, "Asia/Tokyo", "monthly", D(2026, 10, 1), D(2026, 11, 30))
    assertDataFrameEqual(
        out.select("local_date", "year", "month", "month_start"),
        spark.createDataFrame([(D(2026, 10, 31), 2026, 10, D(2026, 10, 1)),
                               (D(2026, 11, 1), 2026, 11, D(2026, 11, 1))],
                              "local_date date, year int, month int, month_start date"))


def test_weekly_figures_come_from_sums_and_counts(spark) -> None:
    """One reading of 100 bpm on Monday, three of 60 on Tuesday: the week's average is
    280 / 4 = 70, not the average of the daily averages (80)."""
    rows = [(0, 2026, 48, D(2026, 11, 23), utc(2026, 11, 23, 8), 100.0, 5, "awake"),
            (0, 2026, 48, D(2026, 11, 23), utc(2026, 11, 24, 8), 60.0, 6, "awake"),
            (0, 2026, 48, D(2026, 11, 23), utc(2026, 11, 24, 9), 60.0, None, "awake"),
            (0, 2026, 48, D(2026, 11, 23), utc(2026, 11, 24, 10), 60.0, 7, "awake")]
    df = spark.createDataFrame(rows, "user_key int, iso_year int, iso_week int, week_start date, "
                                     "measured_at timestamp, heart_rate_bpm double, steps bigint, "
                                     "sleep_state string")
    assertDataFrameEqual(measures(df, "weekly"), spark.createDataFrame(
        [(0, 2026, 48, D(2026, 11, 23), 18, 4, 280.0, 70.0, 60.0, 100.0, 0, 0.0, None, 4,
          utc(2026, 11, 23, 8), utc(2026, 11, 24, 10))],
        f"user_key int, iso_year int, iso_week int, week_start date, {MEASURES_DDL}"))


def test_sleep_heart_rate_averages_asleep_samples_only(spark) -> None:
    """light, deep, rem and asleep are asleep; awake, unknown and no state are not. A day
    without heart rate has no averages, minimum or maximum."""
    day = D(2026, 11, 27)
    t = [utc(2026, 11, 27, h) for h in range(9)]
    rows = [(0, day, t[0], 50.0, "light"), (0, day, t[1], 52.0, "deep"),
            (0, day, t[2], 54.0, "rem"), (0, day, t[3], 56.0, "asleep"),
            (0, day, t[4], 90.0, "awake"), (0, day, t[5], 80.0, "unknown"),
            (0, day, t[6], 70.0, None), (0, day, t[7], None, "asleep"),
            (1, day, t[8], None, "deep")]
    df = spark.createDataFrame([(*r, None) for r in rows],
                               "user_key int, local_date date, measured_at timestamp, "
                               "heart_rate_bpm double, sleep_state string, steps bigint")
    assertDataFrameEqual(measures(df, "daily"), spark.createDataFrame(
        [(0, day, 0, 7, 452.0, 452.0 / 7, 50.0, 90.0, 4, 212.0, 53.0, 8, t[0], t[7]),
         (1, day, 0, 0, 0.0, None, None, None, 0, 0.0, None, 1, t[8], t[8])],
        f"user_key int, local_date date, {MEASURES_DDL}"))


def test_in_window_keeps_owned_rows_of_the_window(spark) -> None:
    figures = spark.createDataFrame(
        [("u1", D(2026, 11, 22), 1), ("u1", D(2026, 11, 23), 2), ("u1", D(2026, 11, 30), 3),
         ("u1", D(2026, 12, 7), 4), (None, D(2026, 11, 23), 5), (None, None, 6)],
        "user_id string, week_start date, readings bigint")
    window = align("weekly", D(2026, 11, 23), D(2026, 12, 6))
    assertDataFrameEqual(in_window(figures, window), spark.createDataFrame(
        [("u1", D(2026, 11, 23), 2), ("u1", D(2026, 11, 30), 3)],
        "user_id string, week_start date, readings bigint"))


def test_times_as_utc_text(spark) -> None:
    figures = spark.createDataFrame([("u1", utc(2026, 3, 29, 1, 2, 3, 4), utc(2026, 3, 29, 23))],
                                    "user_id string, first_at timestamp, last_at timestamp")
    assertDataFrameEqual(utc_text(figures), spark.createDataFrame(
        [("u1", "2026-03-29T01:02:03.000004+00:00", "2026-03-29T23:00:00.000000+00:00")],
        "user_id string, first_at string, last_at string"))


@pytest.mark.parametrize("path", ["shared hashes", "every event by event_id"])
def test_the_figures_of_a_few_events(spark, monkeypatch, path) -> None:
    """End to end on five events: `a` resent with other values counts once (its first copy),
    the stray device's event only in the null-user row; both deduplication paths agree."""
    if path == "every event by event_id":
        monkeypatch.setattr(compute, "SHARED_HASHES_MAX", 0)
    events = lake_rows(spark, [
        {"event_id": "a", "measured_at": utc(2026, 3, 29, 8), "steps": 10,
         "heart_rate_bpm": 60.0, "sleep_state": "awake"},
        {"event_id": "a", "measured_at": utc(2026, 3, 29, 8), "steps": 500,
         "heart_rate_bpm": 200.0, "sleep_state": "deep", "received_at": RECEIVED
         + dt.timedelta(minutes=5)},
        {"event_id": "b", "measured_at": utc(2026, 3, 29, 23), "steps": 7,
         "heart_rate_bpm": 50.0, "sleep_state": "deep"},  # 01:00 on the 30th in Berlin
        {"event_id": "c", "measured_at": utc(2026, 3, 29, 21), "steps": 3},
        {"event_id": "s", "device_id": "stray", "measured_at": utc(2026, 3, 29, 9), "steps": 1},
    ])
    own = make_owners(spark, [("w1", "u1", "Europe/Berlin")])
    window = align("daily", D(2026, 3, 29), D(2026, 3, 30))
    assertDataFrameEqual(compute.figures(events, own, window), spark.createDataFrame([
        ("u1", D(2026, 3, 29), 13, 1, 60.0, 60.0, 60.0, 60.0, 0, 0.0, None, 2,
         utc(2026, 3, 29, 8), utc(2026, 3, 29, 21)),
        ("u1", D(2026, 3, 30), 7, 1, 50.0, 50.0, 50.0, 50.0, 1, 50.0, 50.0, 1,
         utc(2026, 3, 29, 23), utc(2026, 3, 29, 23)),
        (None, None, 1, 0, 0.0, None, None, None, 0, 0.0, None, 1,
         utc(2026, 3, 29, 9), utc(2026, 3, 29, 9))],
        f"user_id string, local_date date, {MEASURES_DDL}"))


@pytest.mark.parametrize("path", ["shared hashes", "every event by event_id"])
def test_two_watches_numbering_their_readings_1_2_3_each_keep_every_reading(
        spark, monkeypatch, path) -> None:
    """Watch firmware numbers readings 1, 2, 3, ...: w1's and w2's ids are equal, and each
    owner counts all three of their own readings. w1's resent 2 (same device, same id,
    received later, other values) still counts once, as its first copy."""
    if path == "every event by event_id":
        monkeypatch.setattr(compute, "SHARED_HASHES_MAX", 0)
    later = RECEIVED + dt.timedelta(minutes=5)
    events = lake_rows(spark, [
        {"event_id": "1", "device_id": "w1", "measured_at": utc(2026, 3, 29, 8, 0), "steps": 10,
         "heart_rate_bpm": 60.0},
        {"event_id": "1", "device_id": "w2", "measured_at": utc(2026, 3, 29, 8, 0), "steps": 1,
         "heart_rate_bpm": 90.0},
        {"event_id": "2", "device_id": "w2", "measured_at": utc(2026, 3, 29, 8, 1), "steps": 2,
         "heart_rate_bpm": 100.0},
        {"event_id": "2", "device_id": "w1", "measured_at": utc(2026, 3, 29, 8, 1), "steps": 20,
         "heart_rate_bpm": 70.0},
        {"event_id": "3", "device_id": "w1", "measured_at": utc(2026, 3, 29, 8, 2), "steps": 30,
         "heart_rate_bpm": 80.0},
        {"event_id": "3", "device_id": "w2", "measured_at": utc(2026, 3, 29, 8, 2), "steps": 3,
         "heart_rate_bpm": 110.0},
        {"event_id": "2", "device_id": "w1", "measured_at": utc(2026, 3, 29, 8, 1), "steps": 999,
         "heart_rate_bpm": 200.0, "received_at": later},
    ])
    own = make_owners(spark, [("w1", "u1", "Europe/Berlin"), ("w2", "u2", "Asia/Tokyo")])
    window = align("daily", D(2026, 3, 29), D(2026, 3, 29))
    first, last = utc(2026, 3, 29, 8, 0), utc(2026, 3, 29, 8, 2)
    assertDataFrameEqual(in_window(compute.figures(events, own, window), window),
                         spark.createDataFrame([
        ("u1", D(2026, 3, 29), 60, 3, 210.0, 70.0, 60.0, 80.0, 0, 0.0, None, 3, first, last),
        ("u2", D(2026, 3, 29), 6, 3, 300.0, 100.0, 90.0, 110.0, 0, 0.0, None, 3, first, last)],
        f"user_id string, local_date date, {MEASURES_DDL}"))
