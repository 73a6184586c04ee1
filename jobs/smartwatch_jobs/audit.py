"""`smartwatch audit`: proof, for a range of local dates, that what was accepted was counted
once for the right person.

It compares, per user and local day, the distinct readings in the lake (a reading is one
device's one event_id; its first received copy gives its measured_at) placed under the owner
and zone in effect at that instant (the registry's history), with `readings` in the daily
figures; it lists the readings of devices without an owner; and it reports the landing's lag
(smartwatch.lag), measured by the caller. The lake side is computed here with plain Spark
(a group, a join on the spans, a count), apart from the aggregation's own transforms, so
that the audit checks the aggregation rather than repeating it.

A difference (a user's day whose counts differ, or records Kafka deleted before they were
landed) fails the audit. Records still waiting in Kafka and readings of devices without an
owner are reported but do not fail it: neither has been dropped.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from smartwatch.history import Span
from smartwatch.lag import PartitionLag
from smartwatch_jobs.aggregate.lake import read_events
from smartwatch_jobs.aggregate.store import owned_spans  # the registry's spans, as the job reads them
from smartwatch_jobs.aggregate.transforms import IDENTITY
from smartwatch_jobs.schema import POSITION

SPAN_SCHEMA = T.StructType([T.StructField("device_id", T.StringType(), False),
                            T.StructField("user_id", T.StringType(), False),
                            T.StructField("time_zone", T.StringType(), False),
                            T.StructField("_start", T.TimestampType()),
                            T.StructField("_end", T.TimestampType())])


@dataclasses.dataclass(frozen=True)
class DayDifference:
    user_id: str
    local_date: dt.date
    lake: int           # distinct readings in the lake under this user and day
    daily: int | None   # `readings` of the daily figures' row; None: no row

    def line(self) -> str:
        daily = "no row" if self.daily is None else f"{self.daily} readings"
        return (f"user {self.user_id} day {self.local_date}: lake {self.lake} readings, "
                f"daily figures {daily}")


@dataclasses.dataclass(frozen=True)
class Report:
    first: dt.date
    last: dt.date
    lake: str
    user_days: int                 # user-days with readings in the lake or a daily row
    lake_readings: int
    daily_readings: int
    differences: list[DayDifference]
    unowned: dict[str, int]        # device -> readings without an owner (UTC dates in range)
    lag: list[PartitionLag] | None  # None: not measured (lag_error says why)
    lag_error: str | None = None

    @property
    def lost(self) -> int:
        return sum(p.lost for p in self.lag or [])

    @property
    def ok(self) -> bool:
        return not self.differences and not self.lost

    def as_json(self) -> dict[str, Any]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat(), "lake": self.lake,
                "ok": self.ok, "user_days": self.user_days, "lake_readings": self.lake_readings,
                "daily_readings": self.daily_readings,
                "differences": [{**dataclasses.asdict(d), "local_date": d.local_date.isoformat()}
                                for d in self.differences],
                "unowned": [{"device_id": d, "readings": n} for d, n in sorted(self.unowned.items())],
                "lag": None if self.lag is None else [p.as_json() for p in self.lag],
                "lag_error": self.lag_error}

    def lines(self, shown: int = 20) -> list[str]:
        out = [f"audit of {self.first}..{self.last} (local dates), lake {self.lake}"]
        if self.lag is None:
            out.append(f"landing lag: not measured: {self.lag_error}")
        else:
            behind = sum(p.behind for p in self.lag)
            ages = [p.oldest_age_seconds for p in self.lag if p.oldest_age_seconds is not None]
            oldest = f", the oldest {max(ages):.0f} s old" if ages else ""
            out.append(f"landing lag: {behind} records not landed yet{oldest}, {self.lost} lost "
                       f"to retention, over {len(self.lag)} partitions")
            out += [f"  partition {p.partition}: {p.behind} behind, {p.lost} lost"
                    for p in self.lag if p.behind or p.lost]
        out.append(f"readings: {self.lake_readings} in the lake under an owner, "
                   f"{self.daily_readings} in the daily figures, over {self.user_days} user-days")
        out += [f"  {d.line()}" for d in self.differences[:shown]]
        if len(self.differences) > shown:
            out.append(f"  ... and {len(self.differences) - shown} more")
        if self.unowned:
            listed = ", ".join(f"{d} ({n})" for d, n in sorted(self.unowned.items())[:shown])
            out.append(f"devices without an owner: {len(self.unowned)} "
                       f"({sum(self.unowned.values())} readings, counted for nobody): {listed}")
        problems = ([f"{len(self.differences)} user-days differ"] if self.differences else []) \
            + ([f"{self.lost} records lost"] if self.lost else [])
        out.append("audit: ok" if self.ok else "audit: FAILED: " + "; ".join(problems))
        return out


def compare(lake: dict[tuple[str, dt.date], int],
            daily: dict[tuple[str, dt.date], int]) -> list[DayDifference]:
    """Every user-day whose lake count differs from its daily row (a missing side is 0
    readings in the lake, or no row)."""
    return [DayDifference(user, day, lake.get((user, day), 0), daily.get((user, day)))
            for user, day in sorted(set(lake) | set(daily))
            if lake.get((user, day), 0) != daily.get((user, day))]


def lake_days(spark: SparkSession, lake: str, owned: list[Span], first: dt.date,
              last: dt.date) -> tuple[dict[tuple[str, dt.date], int], dict[str, int]]:
    """(distinct readings per (user, local date) in [first, last] under the owner and zone
    in effect at their measured_at, distinct readings per device without an owner on UTC
    dates in [first, last]). Raises LakeError if `lake` is not a lake of this project."""
    day = dt.timedelta(days=1)
    events = read_events(spark, lake, first - day, last + day)  # zones are within a day of UTC
    if events is None:
        return {}, {}
    readings = events.groupBy(*IDENTITY).agg(
        F.min_by("measured_at", F.struct(*POSITION)).alias("measured_at"))
    span_rows = [(s.device_id, s.user_id, s.time_zone, s.start, s.end) for s in owned]
    span_frame = spark.createDataFrame(span_rows, SPAN_SCHEMA)
    at = F.col("measured_at")
    held = ((readings["device_id"] == span_frame["device_id"])
            & (span_frame["_start"].isNull() | (at >= span_frame["_start"]))
            & (span_frame["_end"].isNull() | (at < span_frame["_end"])))
    joined = readings.join(F.broadcast(span_frame), held, "left").select(
        readings["device_id"], "measured_at", "user_id", "time_zone")
    local = F.to_date(F.from_utc_timestamp(at, F.col("time_zone")))
    by_day = (joined.filter(F.col("user_id").isNotNull())
              .select("user_id", local.alias("local_date"))
              .filter(F.col("local_date").between(F.lit(first), F.lit(last)))
              .groupBy("user_id", "local_date").count().collect())
    unowned = (joined.filter(F.col("user_id").isNull())
               .filter(F.to_date(at).between(F.lit(first), F.lit(last)))
               .groupBy("device_id").count().collect())
    return ({(r["user_id"], r["local_date"]): int(r["count"]) for r in by_day},
            {r["device_id"]: int(r["count"]) for r in unowned})


def daily_days(conn, first: dt.date, last: dt.date) -> dict[tuple[str, dt.date], int]:
    """`readings` of the daily figures per (user, local date) in [first, last]."""
    with conn.cursor() as cur:
        cur.execute("SELECT user_id, local_date, readings FROM daily_aggregates "
                    "WHERE local_date BETWEEN %s AND %s", (first, last))
        return {(u, d): int(n) for u, d, n in cur.fetchall()}


def audit(spark: SparkSession, lake: str, dsn: str, first: dt.date, last: dt.date,
          lag: list[PartitionLag] | None, lag_error: str | None = None) -> Report:
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn:
            owned = owned_spans(conn)
            daily = daily_days(conn, first, last)
    finally:
        conn.close()
    in_lake, unowned = lake_days(spark, lake, owned, first, last)
    return Report(first, last, lake, len(set(in_lake) | set(daily)), sum(in_lake.values()),
                  sum(daily.values()), compare(in_lake, daily), unowned, lag, lag_error)
