"""The aggregation's last step: events with a shared id hash are aggregated one group each,
and only the first copy of each id (first received, then lowest Kafka position) joins its
period's figures. Run by Spark on a table of groups and expected figures written by hand."""

import datetime as dt

import pyarrow as pa
import pytest

from smartwatch_jobs.aggregate import first_copies_added

pytestmark = pytest.mark.spark

T0 = dt.datetime(2026, 6, 1, 8, tzinfo=dt.UTC)
D1, D2, D3 = dt.date(2026, 6, 1), dt.date(2026, 6, 2), dt.date(2026, 6, 3)


def _at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


COLUMNS = ["user_key", "local_date", "_cand", "_cid", "_creceived_at", "_ckafka_partition",
           "_ckafka_offset", "total_steps", "hr_samples", "hr_sum", "min_hr", "max_hr",
           "sleep_hr_samples", "sleep_hr_sum", "readings", "first_at", "last_at"]


def _one(user, day, cand, cid, received, partition, offset, steps, hr, asleep, at):
    """A candidate's own group: the measures of one reading."""
    return (user, day, cand, cid, received, partition, offset, steps, int(hr is not None),
            hr or 0.0, hr, hr, int(asleep and hr is not None), hr if asleep and hr else 0.0, 1,
            at, at)


ROWS = [
    # events with an unshared hash, aggregated by Spark: user 0 on D1, and devices without owner
    (0, D1, None, None, None, None, None, 10, 2, 120.0, 55.0, 65.0, 1, 55.0, 3, _at(1), _at(2)),
    (None, None, None, None, None, None, None, 0, 0, 0.0, None, None, 0, 0.0, 4, _at(0), _at(9)),
    # a: received first on D1 (kept), resent later with other values on D2 (dropped)
    _one(0, D1, 11, "a", _at(0), 3, 9, 5, 70.0, False, _at(0.5)),
    _one(0, D2, 12, "a", _at(1), 0, 1, 900, 200.0, True, _at(25)),
    # b: one record landed twice (same position, alike): counted once, user 1's only reading
    _one(1, D1, 13, "b", _at(0), 1, 4, 7, None, False, _at(3)),
    _one(1, D1, 14, "b", _at(0), 1, 4, 7, None, False, _at(3)),
    # c: same time received, the lower offset wins, on a device without owner
    _one(None, None, 15, "c", _at(0), 2, 8, 1, 80.0, False, _at(4)),
    _one(None, None, 16, "c", _at(0), 2, 6, 2, 90.0, False, _at(4)),
    # d: a null receive time sorts first, as in Spark
    _one(0, D3, 17, "d", _at(5), 0, 0, 30, 60.0, True, _at(50)),
    _one(0, D3, 18, "d", None, 0, 1, 40, 62.0, True, _at(51)),
]


def _wall(at: dt.datetime) -> dt.datetime:
    return at.replace(tzinfo=None)  # Spark returns UTC wall time, naive


def test_the_first_copy_of_each_id_joins_its_period(spark) -> None:
    grouped = pa.table({c: [r[i] for r in ROWS] for i, c in enumerate(COLUMNS)},
                       schema=pa.schema([
                           ("user_key", pa.int32()), ("local_date", pa.date32()),
                           ("_cand", pa.int64()), ("_cid", pa.string()),
                           ("_creceived_at", pa.timestamp("us", tz="UTC")),
                           ("_ckafka_partition", pa.int32()), ("_ckafka_offset", pa.int64()),
                           ("total_steps", pa.int64()), ("hr_samples", pa.int64()),
                           ("hr_sum", pa.float64()), ("min_hr", pa.float64()),
                           ("max_hr", pa.float64()), ("sleep_hr_samples", pa.int64()),
                           ("sleep_hr_sum", pa.float64()), ("readings", pa.int64()),
                           ("first_at", pa.timestamp("us", tz="UTC")),
                           ("last_at", pa.timestamp("us", tz="UTC"))]))
    got = [row.asDict() for row in
           first_copies_added(spark.createDataFrame(grouped), "daily").collect()]
    expected = [
        # user 0 D1: Spark's 3 readings and a's first copy
        {"user_key": 0, "local_date": D1, "total_steps": 15, "hr_samples": 3,
         "hr_sum": 190.0, "avg_hr": 190.0 / 3, "min_hr": 55.0, "max_hr": 70.0,
         "sleep_hr_samples": 1, "sleep_hr_sum": 55.0, "avg_sleep_hr": 55.0, "readings": 4,
         "first_at": _wall(_at(0.5)), "last_at": _wall(_at(2))},
        # user 0 D3: d's copy received at an unknown time
        {"user_key": 0, "local_date": D3, "total_steps": 40, "hr_samples": 1,
         "hr_sum": 62.0, "avg_hr": 62.0, "min_hr": 62.0, "max_hr": 62.0,
         "sleep_hr_samples": 1, "sleep_hr_sum": 62.0, "avg_sleep_hr": 62.0, "readings": 1,
         "first_at": _wall(_at(51)), "last_at": _wall(_at(51))},
        # user 1 D1: b once, no heart rate
        {"user_key": 1, "local_date": D1, "total_steps": 7, "hr_samples": 0,
         "hr_sum": 0.0, "avg_hr": None, "min_hr": None, "max_hr": None,
         "sleep_hr_samples": 0, "sleep_hr_sum": 0.0, "avg_sleep_hr": None, "readings": 1,
         "first_at": _wall(_at(3)), "last_at": _wall(_at(3))},
        # devices without owner: 4 readings and c's copy at offset 6
        {"user_key": None, "local_date": None, "total_steps": 2, "hr_samples": 1,
         "hr_sum": 90.0, "avg_hr": 90.0, "min_hr": 90.0, "max_hr": 90.0,
         "sleep_hr_samples": 0, "sleep_hr_sum": 0.0, "avg_sleep_hr": None, "readings": 5,
         "first_at": _wall(_at(0)), "last_at": _wall(_at(9))},
    ]

    def key(row: dict) -> tuple:
        return (row["user_key"] if row["user_key"] is not None else 9, row["local_date"]
                or dt.date.max)

    assert sorted(got, key=key) == sorted(expected, key=key)
