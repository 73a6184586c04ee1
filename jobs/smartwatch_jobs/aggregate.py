"""The aggregation job: per-user daily, weekly and monthly figures from the lake into Postgres.

A day is the owner's local calendar day in their IANA zone (23 or 25 hours around DST
changes); a week is an ISO week labelled with its ISO year; a month is a local calendar month.
Each event_id counts once. Every period's figures come from counts, sums, minima and maxima of
the readings themselves, never from averages of averages.

A run computes one window (whole periods) and replaces exactly that window's rows in one
transaction; other windows are untouched and readers never see a half-written window.
"""

from __future__ import annotations

import calendar
import datetime as dt
import io
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from smartwatch.events import ASLEEP_STATES
from smartwatch_jobs.schema import event_schema

if TYPE_CHECKING:
    import pyarrow as pa

GRANULARITIES = ("daily", "weekly", "monthly")
MEASURES = ("total_steps", "hr_samples", "hr_sum", "avg_hr", "min_hr", "max_hr",
            "sleep_hr_samples", "sleep_hr_sum", "avg_sleep_hr", "readings", "first_at", "last_at")
KEYS = {"daily": ("user_id", "local_date"),
        "weekly": ("user_id", "iso_year", "iso_week", "week_start"),
        "monthly": ("user_id", "year", "month", "month_start")}
PERIOD_COLUMN = {"daily": "local_date", "weekly": "week_start", "monthly": "month_start"}
TABLE = {g: f"{g}_aggregates" for g in GRANULARITIES}


class WindowError(ValueError):
    """An invalid window, reported before Spark starts."""


class RunNameError(ValueError):
    """An invalid --run-name, reported before Spark starts."""


class RunConflict(RuntimeError):
    """The run name is taken: its run succeeded (a name is used by one successful run), or a
    newer attempt under the same name took it over while this one ran. Nothing is written."""


RUN_NAME_MAX = 200


def check_run_name(name: str) -> str:
    """A run name: 1 to RUN_NAME_MAX printable characters, no whitespace."""
    if not 1 <= len(name) <= RUN_NAME_MAX:
        raise RunNameError(f"--run-name must have 1 to {RUN_NAME_MAX} characters, not {len(name)}")
    bad = next((c for c in name if c.isspace() or not c.isprintable()), None)
    if bad is not None:
        raise RunNameError(f"--run-name {name!r} contains {bad!r}: "
                           "give printable characters without whitespace")
    return name


def window_run_name(name: str, window: AggWindow) -> str:
    """The run name of one window of a named --dirty run: NAME-<first day as YYYYMMDD>. The
    windows of one dirty run are disjoint, so their first days differ."""
    return f"{name}-{window.start:%Y%m%d}"


@dataclass(frozen=True)
class AggWindow:
    granularity: str
    start: dt.date  # first day of the first period
    end: dt.date  # last day of the last period

    @property
    def utc_dates(self) -> tuple[dt.date, dt.date]:
        """UTC dates whose readings can fall in the window in some zone (UTC-12..UTC+14)."""
        return self.start - dt.timedelta(days=1), self.end + dt.timedelta(days=1)


def align(granularity: str, start: dt.date, end: dt.date) -> AggWindow:
    """The window of whole periods covering [start, end]."""
    if granularity not in GRANULARITIES:
        raise WindowError(f"unknown granularity {granularity!r}; choose {', '.join(GRANULARITIES)}")
    if start > end:
        raise WindowError(f"--from {start} is after --to {end}")
    if granularity == "weekly":
        start -= dt.timedelta(days=start.isoweekday() - 1)
        end += dt.timedelta(days=7 - end.isoweekday())
    elif granularity == "monthly":
        start = start.replace(day=1)
        end = end.replace(day=calendar.monthrange(end.year, end.month)[1])
    return AggWindow(granularity, start, end)


def merge_windows(granularity: str, local_dates: Iterable[dt.date]) -> list[AggWindow]:
    """Contiguous windows of whole periods covering the given local dates."""
    periods = sorted({align(granularity, d, d) for d in local_dates}, key=lambda w: w.start)
    merged: list[AggWindow] = []
    for w in periods:
        if merged and w.start <= merged[-1].end + dt.timedelta(days=1):
            merged[-1] = AggWindow(granularity, merged[-1].start, max(merged[-1].end, w.end))
        else:
            merged.append(w)
    return merged


# --- transformations ---------------------------------------------------------------------------
DEDUP_FIELDS = ("device_id", "measured_at", "heart_rate_bpm", "steps", "sleep_state")


POSITION = ("received_at", "kafka_partition", "kafka_offset")


def kafka_position() -> Column:
    """Where a copy of an event was received: the first received, then the lowest Kafka
    position, wins. Unique per Kafka record."""
    return F.struct(*POSITION)


def id_hash() -> Column:
    """A 64-bit hash of event_id. Equal ids have equal hashes; unequal ids that collide only
    send both events through the exact path."""
    return F.xxhash64("event_id")


# Events whose hashes the driver sorts itself (8 bytes each, twice while sorting) rather than
# grouping them with a shuffle: several times faster, bounded by the driver's memory. Spark
# conf key to change it. A local run's driver has SMARTWATCH_SPARK_DRIVER_MEMORY (4g); a
# cluster's driver pod is small by default (1g) and has executors to group with.
DRIVER_HASHES_CONF = "spark.smartwatch.aggregate.driverHashRows"
DRIVER_HASHES_LOCAL = 25_000_000
DRIVER_HASHES_CLUSTER = 2_000_000
SHARED_HASHES_MAX = 1_000_000


# A lake row takes more Parquet bytes than this (each has an event_id and a Kafka offset of
# its own), so files of fewer bytes than this times the driver's bound hold fewer events than
# the bound: a small window (a --dirty run's) is not counted first.
MIN_ROW_BYTES = 4


def shared_hashes(hashes: DataFrame, file_bytes: int) -> pa.Table | None:
    """The values of column `_h` that occur more than once, as an Arrow table with that one
    column; None if there are more than SHARED_HASHES_MAX. `file_bytes`: the size of the
    files read."""
    import numpy as np
    import pyarrow as pa

    spark = hashes.sparkSession
    local = spark.sparkContext.master.startswith("local")
    limit = int(spark.conf.get(DRIVER_HASHES_CONF, None)
                or (DRIVER_HASHES_LOCAL if local else DRIVER_HASHES_CLUSTER))
    if file_bytes < limit * MIN_ROW_BYTES or hashes.count() <= limit:
        values = np.sort(hashes.toArrow().column("_h").to_numpy())
        repeated = values[1:] == values[:-1]
        table = pa.table({"_h": pa.array(np.unique(values[1:][repeated]), pa.int64())})
    else:
        table = (hashes.groupBy("_h").count().filter(F.col("count") > 1).select("_h")
                 .limit(SHARED_HASHES_MAX + 1).toArrow())
    return None if table.num_rows > SHARED_HASHES_MAX else table


def dedup_by_id(events: DataFrame) -> DataFrame:
    """Every event grouped by event_id: a hash aggregate of min_by over kafka_position."""
    position = kafka_position()
    first = F.min_by(F.struct(*DEDUP_FIELDS), position)
    return (events.groupBy("event_id").agg(first.alias("_e"))
            .select("event_id", *[F.col("_e")[c].alias(c) for c in DEDUP_FIELDS]))


DAY_MICROS = 86_400_000_000
# A zone with more UTC offsets than this inside a window (decades of DST changes) is
# localised row by row with from_utc_timestamp instead.
MAX_OFFSETS_PER_ZONE = 64


def utc_offsets(spark: SparkSession, zone: str, start: int,
                end: int) -> list[tuple[int, int]] | None:
    """The UTC offsets of `zone` between epoch seconds `start` and `end`: (from, seconds)
    pairs, the first from `start`. By the rules of the zone as Spark's from_utc_timestamp
    resolves it (java.time); None if Spark does not know the zone or it has more than
    MAX_OFFSETS_PER_ZONE offsets in that span."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    jvm = spark.sparkContext._jvm
    assert jvm is not None
    try:
        rules = jvm.org.apache.spark.sql.catalyst.util.DateTimeUtils.getZoneId(zone).getRules()
    except (Py4JError, PySparkException):
        return None
    instant = jvm.java.time.Instant.ofEpochSecond(start)
    pairs = [(start, rules.getOffset(instant).getTotalSeconds())]
    while len(pairs) <= MAX_OFFSETS_PER_ZONE:
        change = rules.nextTransition(instant)
        if change is None or change.toEpochSecond() >= end:
            return pairs
        pairs.append((change.toEpochSecond(), change.getOffsetAfter().getTotalSeconds()))
        instant = change.getInstant()
    return None


def owner_frame(spark: SparkSession, owners: Owners, start: int,
                end: int) -> tuple[DataFrame, int]:
    """The owners' devices (device_id, user_key, owner_zone), each with its zone's UTC offsets
    between epoch seconds `start` and `end` as columns (microseconds): `_from` and `_until`
    (the span), `_o0` the offset from `_from`, `_oN` the one from `_bN` (N = 1..width);
    padded to a width of at least 2, so that windows with as many offset changes share
    Spark's generated code. Null offsets for zones that utc_offsets does not cover. Returns
    the frame and the width; its own columns are the ones starting with "_"."""
    offsets = [utc_offsets(spark, zone, start, end) for zone in owners.zones]
    width = max([2, *(len(p) - 1 for p in offsets if p)])
    columns = (["_from", "_until"] + [f"_b{i}" for i in range(1, width + 1)]
               + [f"_o{i}" for i in range(width + 1)])
    span = [start * 1_000_000, end * 1_000_000]
    per_zone = []
    for pairs in offsets:
        if pairs is None:
            per_zone.append([None] * len(columns))
            continue
        bounds = [at * 1_000_000 for at, _ in pairs[1:]]
        shifts = [seconds * 1_000_000 for _, seconds in pairs]
        per_zone.append(span + bounds + [span[1]] * (width - len(bounds))
                        + shifts + [shifts[-1]] * (width + 1 - len(shifts)))
    schema = T.StructType(
        [T.StructField("device_id", T.StringType(), False),
         T.StructField("user_key", T.IntegerType(), False),
         T.StructField("owner_zone", T.StringType(), False)]
        + [T.StructField(c, T.LongType()) for c in columns])
    rows = [(device, user, owners.zones[zone], *per_zone[zone])
            for device, user, zone in owners.devices]
    return F.broadcast(spark.createDataFrame(rows, schema)), width


def wall_micros(width: int) -> Column:
    """`measured_at` in the owner's zone as wall-clock microseconds since the epoch, from the
    offset columns of owner_frame; null outside their span or without offsets. A row's offset
    takes a few comparisons: several times cheaper than from_utc_timestamp, which converts
    each row through java.time objects."""
    micros = F.unix_micros(F.col("measured_at"))
    within = F.when(micros < F.col("_b1"), F.col("_o0"))
    for i in range(2, width + 1):
        within = within.when(micros < F.col(f"_b{i}"), F.col(f"_o{i - 1}"))
    within = within.otherwise(F.col(f"_o{width}"))
    return F.when((micros >= F.col("_from")) & (micros < F.col("_until")), micros + within)


def localise(events: DataFrame, owners: Owners, window: AggWindow) -> DataFrame:
    """Events with the owner and local period columns; those of devices without owner have
    nulls there."""
    first, last = window.utc_dates
    epoch = dt.date(1970, 1, 1)
    start = (first - epoch).days * 86_400
    end = (last - epoch).days * 86_400 + 86_400
    frame, width = owner_frame(events.sparkSession, owners, start, end)
    day = F.col("local_date")
    week_start = F.date_sub(day, F.weekday(day))
    # The wall-clock day, floored exactly with integers; row by row where there is no offset.
    local_date = F.coalesce(
        F.expr(f"date_from_unix_date(CAST((_wall - pmod(_wall, {DAY_MICROS})) "
               f"div {DAY_MICROS} AS INT))"),
        F.to_date(F.from_utc_timestamp("measured_at", F.col("owner_zone"))))
    return (events.join(frame, "device_id", "left")
            .withColumn("_wall", wall_micros(width))
            .withColumn("local_date", local_date)
            .drop("_wall", *[c for c in frame.columns if c.startswith("_")])
            # The period columns of the window's granularity, in one projection (each
            # DataFrame step costs an analysis of the plan: it shows in a --dirty run).
            .withColumns({name: column for name, column in {
                "week_start": week_start,
                "iso_year": F.year(F.date_add(week_start, 3)),  # its Thursday's year
                "iso_week": F.weekofyear(day),
                "month_start": F.trunc(day, "month"),
                "year": F.year(day),
                "month": F.month(day)}.items() if name in KEYS[window.granularity]}))


def measures(df: DataFrame, granularity: str, extra_keys: tuple[str, ...] = ()) -> DataFrame:
    hr = F.col("heart_rate_bpm")
    asleep = F.col("sleep_state").isin([s.value for s in ASLEEP_STATES])
    sleep_hr = F.when(asleep, hr)
    keys = ["user_key", *KEYS[granularity][1:], *extra_keys]
    out = df.groupBy(*keys).agg(
        F.coalesce(F.sum("steps"), F.lit(0)).cast("long").alias("total_steps"),
        F.count(hr).alias("hr_samples"),
        F.coalesce(F.sum(hr), F.lit(0.0)).alias("hr_sum"),
        F.min(hr).alias("min_hr"), F.max(hr).alias("max_hr"),
        F.count(sleep_hr).alias("sleep_hr_samples"),
        F.coalesce(F.sum(sleep_hr), F.lit(0.0)).alias("sleep_hr_sum"),
        F.count(F.lit(1)).alias("readings"),
        F.min("measured_at").alias("first_at"), F.max("measured_at").alias("last_at"))
    return with_averages(out).select(*keys, *MEASURES)


def with_averages(figures: DataFrame) -> DataFrame:
    return figures.withColumns({
        "avg_hr": F.when(F.col("hr_samples") > 0, F.col("hr_sum") / F.col("hr_samples")),
        "avg_sleep_hr": F.when(F.col("sleep_hr_samples") > 0,
                               F.col("sleep_hr_sum") / F.col("sleep_hr_samples"))})


def figures(events: DataFrame, owners: Owners, window: AggWindow) -> DataFrame:
    """The figures of every period the events fall in (the window's and, from the UTC days
    read around it, some of its neighbours': keep the window's with `in_window`), each
    event_id counted once, plus rows with a null user_id whose `readings` count the events
    of devices without owner (all the window reads): one pass over the events serves both.
    The periods are kept after aggregating, since a filter on the local date before it would
    localise each row again.

    The copy of an event_id that counts is the first received, then the lowest Kafka
    position, so reruns agree. Repeats are rare, so the events are not all shuffled by
    event_id: a 64-bit hash of each event_id is computed, and the hashes that occur more than
    once found (shared_hashes). The events with such a hash, the candidates (every copy of a
    repeated id, and any event that merely shares a hash with another), are each aggregated
    as a group of their own, with their id and Kafka position; then, of each id, the first
    copy's figures join its period's (first_copies_added). Past SHARED_HASHES_MAX shared
    hashes (duplicate-heavy data) every event is grouped by event_id first instead."""
    granularity = window.granularity
    hashed = events.withColumn("_h", id_hash())
    shared = shared_hashes(hashed.select("_h"), file_bytes(events))
    if shared is None or shared.num_rows == 0:
        unique = dedup_by_id(events) if shared is None else events
        return with_users(measures(localise(unique, owners, window), granularity), owners,
                          granularity)
    marks = events.sparkSession.createDataFrame(shared).withColumn("_shared", F.lit(True))
    candidate = F.col("_shared").isNotNull()
    marked = hashed.join(F.broadcast(marks), "_h", "left").select(
        "event_id", *DEDUP_FIELDS,
        F.when(candidate, F.monotonically_increasing_id()).alias("_cand"),
        F.when(candidate, F.col("event_id")).alias("_cid"),
        *(F.when(candidate, F.col(c)).alias(f"_c{c}") for c in POSITION))
    grouped = measures(localise(marked, owners, window), granularity, CANDIDATE_KEYS)
    return with_users(first_copies_added(grouped, granularity), owners, granularity)


def file_bytes(events: DataFrame) -> int:
    """The size of the files a read of the lake reads, from its file listing (no job)."""
    return int(events._jdf.queryExecution().optimizedPlan().stats().sizeInBytes())


def with_users(grouped: DataFrame, owners: Owners, granularity: str) -> DataFrame:
    return (grouped.join(owners.users, "user_key", "left")
            .select(*KEYS[granularity], *MEASURES))


# A candidate is a group of its own: unique per event (_cand), with its id and Kafka
# position; null for the other events.
CANDIDATE_KEYS = ("_cand", "_cid", *(f"_c{c}" for c in POSITION))

# How the figures of two sets of events combine into the figures of both.
COMBINE = {"total_steps": F.sum, "hr_samples": F.sum, "hr_sum": F.sum, "min_hr": F.min,
           "max_hr": F.max, "sleep_hr_samples": F.sum, "sleep_hr_sum": F.sum,
           "readings": F.sum, "first_at": F.min, "last_at": F.max}


def first_copies_added(grouped: DataFrame, granularity: str) -> DataFrame:
    """`grouped`: measures keyed by period and CANDIDATE_KEYS (null but for candidates, each
    its own group). Of each candidate id, the first copy (first received, then the lowest
    Kafka position; copies at one position are one record landed twice, alike) joins the
    figures of its period; the other copies are dropped. Both steps work on groups, few next
    to the events."""
    keys = ["user_key", *KEYS[granularity][1:]]
    alone = F.col("_cid").isNull()
    first = F.min_by(F.struct(*keys, *COMBINE),
                     F.struct(*(f"_c{c}" for c in POSITION), "_cand"))
    firsts = (grouped.groupBy("_cid", *(F.when(alone, F.col(k)).alias(f"_{k}") for k in keys))
              .agg(first.alias("_first")).select("_first.*"))
    combined = firsts.groupBy(*keys).agg(*(how(c).alias(c) for c, how in COMBINE.items()))
    return with_averages(combined).select(*keys, *MEASURES)


def in_window(figures: DataFrame, window: AggWindow) -> DataFrame:
    """The rows of users' periods in the window."""
    period = F.col(PERIOD_COLUMN[window.granularity])
    return figures.filter(F.col("user_id").isNotNull()
                          & period.between(F.lit(window.start), F.lit(window.end)))


UTC_TEXT = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'+00:00'"  # the session time zone is UTC


def utc_text(figures: DataFrame) -> DataFrame:
    """first_at and last_at as text in UTC, as COPY and the JDBC staging table load them."""
    return figures.withColumns({c: F.date_format(c, UTC_TEXT) for c in ("first_at", "last_at")})


# --- reading ------------------------------------------------------------------------------------
# The lake's columns the job reads; given, so no Parquet footer is read to infer them.
LAKE_SCHEMA = T.StructType(
    [f for f in event_schema().fields if f.name in ("event_id", "received_at", *DEDUP_FIELDS)]
    + [T.StructField("kafka_partition", T.IntegerType()),
       T.StructField("kafka_offset", T.LongType()),
       T.StructField("event_date", T.DateType())])


def read_events(spark: SparkSession, lake: str, first: dt.date | None,
                last: dt.date | None) -> DataFrame | None:
    """The lake's rows of UTC dates [first, last] (None: all), or None if the lake has no date
    in that range. Only those dates' folders are listed and read."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    base = lake.rstrip("/")
    path = jvm.org.apache.hadoop.fs.Path(base)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(path):
        return None
    folders = []
    for status in fs.listStatus(path):
        name = status.getPath().getName()
        if not (status.isDirectory() and name.startswith("event_date=")):
            continue
        try:
            day = dt.date.fromisoformat(name.removeprefix("event_date="))
        except ValueError:
            continue
        if first is None or last is None or first <= day <= last:
            folders.append(f"{base}/{name}")
    if not folders:
        return None
    return spark.read.schema(LAKE_SCHEMA).option("basePath", base).parquet(*sorted(folders))


USER_SCHEMA = T.StructType([T.StructField("user_key", T.IntegerType(), False),
                            T.StructField("user_id", T.StringType(), False)])


@dataclass(frozen=True)
class Owners:
    """The registry's owners, with a small integer for each user and each zone: the events
    are grouped by user_key (integer keys group several times faster than strings), and
    user_id is joined to the figures."""

    devices: list[tuple[str, int, int]]  # device_id, user_key, zone_key
    users: DataFrame  # user_key, user_id; broadcast
    zones: tuple[str, ...]  # the distinct owner zones; zone_key is the index in it


def make_owners(spark: SparkSession, rows: Iterable[tuple[str, str, str]]) -> Owners:
    """Owners of (device_id, user_id, time_zone) rows."""
    rows = list(rows)
    user_ids = tuple(sorted({r[1] for r in rows}))
    users = {u: i for i, u in enumerate(user_ids)}
    zones = tuple(sorted({r[2] for r in rows}))
    zone_key = {z: i for i, z in enumerate(zones)}
    return Owners([(d, users[u], zone_key[z]) for d, u, z in rows],
                  F.broadcast(spark.createDataFrame(list(enumerate(user_ids)), USER_SCHEMA)),
                  zones)


def load_owners(spark: SparkSession, conn) -> Owners:
    with conn.cursor() as cur:
        cur.execute("SELECT d.device_id, d.user_id, u.time_zone FROM devices d "
                    "JOIN users u USING (user_id)")
        return make_owners(spark, cur.fetchall())


# --- writing ------------------------------------------------------------------------------------
def ensure_partitions(conn, first_year: int, last_year: int) -> None:
    """Yearly partitions of the three tables for [first_year, last_year]."""
    with conn.cursor() as cur:
        for table in TABLE.values():
            for year in range(first_year, last_year + 1):
                cur.execute(f"""CREATE TABLE IF NOT EXISTS {table}_{year} PARTITION OF {table}
                                FOR VALUES FROM ('{year}-01-01') TO ('{year + 1}-01-01')""")


def replace_window(conn, window: AggWindow, csv: bytes) -> int:
    """Delete the window's rows and COPY the new ones straight into the table (CSV without
    header, in _csv_and_orphans's column order), in the caller's transaction."""
    table = TABLE[window.granularity]
    period = PERIOD_COLUMN[window.granularity]
    with conn.cursor() as cur:
        cur.execute(f"DELETE FROM {table} WHERE {period} BETWEEN %s AND %s",
                    (window.start, window.end))
        cur.copy_expert(_copy_sql(table, [*KEYS[window.granularity], *MEASURES,
                                          "computed_at", "run"]), io.BytesIO(csv))
        return int(cur.rowcount)


def _csv_and_orphans(figures: pa.Table, window: AggWindow, run: str,
                     computed_at: dt.datetime) -> tuple[bytes, int]:
    """The rows of users' periods in the window as CSV (their keys, measures, computed_at and
    run), and the readings of the null-user row (events of devices without owner)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    owned = pc.is_valid(figures.column("user_id"))
    orphans = pc.sum(figures.filter(pc.invert(owned)).column("readings")).as_py() or 0
    period = figures.column(PERIOD_COLUMN[window.granularity])
    kept = pc.and_(owned, pc.and_(pc.greater_equal(period, pa.scalar(window.start)),
                                  pc.less_equal(period, pa.scalar(window.end))))
    rows = figures.filter(kept).select([*KEYS[window.granularity], *MEASURES])
    rows = (rows.append_column("computed_at", pa.repeat(computed_at.isoformat(), len(rows)))
            .append_column("run", pa.repeat(run, len(rows))))
    out = io.BytesIO()
    pcsv.write_csv(rows, out, pcsv.WriteOptions(include_header=False, quoting_style="needed"))
    return out.getvalue(), orphans


def _copy_sql(table: str, columns: list[str]) -> str:
    return f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '')"


PG_TYPES = {"user_id": "text", "local_date": "date", "week_start": "date",
            "month_start": "date", "iso_year": "integer", "iso_week": "integer",
            "year": "integer", "month": "integer", "first_at": "timestamptz",
            "last_at": "timestamptz", "total_steps": "bigint", "hr_samples": "bigint",
            "sleep_hr_samples": "bigint", "readings": "bigint"}


def _pg_type(column: str) -> str:
    return PG_TYPES.get(column, "double precision")


@dataclass
class RunResult:
    run: str
    window: AggWindow
    rows: int
    events_without_owner: int
    replaced: str | None = None  # the earlier unfinished or failed attempt this one took over


def _describe(row) -> str:
    granularity, start, end, status, started, finished = row
    when = f"finished {finished:%Y-%m-%dT%H:%M:%SZ}" if finished else (
        f"started {started:%Y-%m-%dT%H:%M:%SZ}")
    return f"{status} ({granularity} {start}..{end}, {when})"


_RUN_ROW = """SELECT granularity, window_from, window_to, status, started_at AT TIME ZONE 'UTC',
                     finished_at AT TIME ZONE 'UTC' FROM aggregation_runs WHERE run = %s"""


def refuse_succeeded(conn, runs: Iterable[str]) -> None:
    """RunConflict if any of these names belongs to a run that succeeded (checked before any
    work starts; claim_run checks again, atomically)."""
    with conn.cursor() as cur:
        for run in runs:
            cur.execute(_RUN_ROW, (run,))
            row = cur.fetchone()
            if row is not None and row[3] == "succeeded":
                raise RunConflict(f"run {run} already {_describe(row)}: a name is used by one "
                                  "successful run; give another --run-name to recompute")


def claim_run(conn, run: str, window: AggWindow, started: dt.datetime) -> str | None:
    """Record the run as running, in its own transaction. A new name is inserted. A name whose
    run failed, or never finished (still `running`: its driver died, or it still runs), is taken
    over: the row is reset to this attempt, whose start time (`started_at`) is its token, so
    the older attempt can no longer commit. A name whose run succeeded is refused (RunConflict).
    Returns a description of the attempt taken over, if any."""
    with conn, conn.cursor() as cur:
        cur.execute(_RUN_ROW + " FOR UPDATE", (run,))
        previous = cur.fetchone()
        if previous is not None and previous[3] == "succeeded":
            raise RunConflict(f"run {run} already {_describe(previous)}: a name is used by one "
                              "successful run; give another --run-name to recompute")
        cur.execute("""INSERT INTO aggregation_runs (run, granularity, window_from, window_to,
                         started_at, status) VALUES (%s, %s, %s, %s, %s, 'running')
                       ON CONFLICT (run) DO UPDATE SET granularity = EXCLUDED.granularity,
                         window_from = EXCLUDED.window_from, window_to = EXCLUDED.window_to,
                         started_at = EXCLUDED.started_at, finished_at = NULL,
                         rows_written = NULL, events_without_owner = NULL, status = 'running',
                         error = NULL
                       WHERE aggregation_runs.status <> 'succeeded'""",
                    (run, window.granularity, window.start, window.end, started))
        if cur.rowcount != 1:  # inserted and succeeded by another attempt since the SELECT
            raise RunConflict(f"run {run} already succeeded: a name is used by one successful "
                              "run; give another --run-name to recompute")
    return _describe(previous) if previous is not None else None


def jdbc_target(dsn: str) -> tuple[str, dict[str, str]]:
    """The JDBC URL and properties of a libpq URI."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(dsn)
    url = f"jdbc:postgresql://{parts.hostname}:{parts.port or 5432}{parts.path}"
    return url, {"user": unquote(parts.username or ""), "password": unquote(parts.password or ""),
                 "driver": "org.postgresql.Driver", "reWriteBatchedInserts": "true",
                 "batchsize": "10000"}


def replace_window_jdbc(conn, window: AggWindow, result: DataFrame, dsn: str, run: str,
                        computed_at: dt.datetime) -> int:
    """The bulk load on a cluster (measured against COPY in docs/benchmarks.md): Spark's JDBC
    writer with batched rewritten inserts into a staging table, then the same one-transaction
    swap of the window."""
    table = TABLE[window.granularity]
    period = PERIOD_COLUMN[window.granularity]
    columns = [*KEYS[window.granularity], *MEASURES]
    staging = f"agg_load_{uuid.uuid4().hex[:12]}"
    url, props = jdbc_target(dsn)
    result.write.jdbc(url, staging, mode="overwrite", properties=props)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DELETE FROM {table} WHERE {period} BETWEEN %s AND %s",
                        (window.start, window.end))
            cur.execute(f"""INSERT INTO {table} ({', '.join(columns)}, computed_at, run)
                            SELECT {', '.join(f'{c}::{_pg_type(c)}' for c in columns)}, %s, %s
                            FROM {staging}""", (computed_at, run))
            return cur.rowcount
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {staging}")


def run_window(spark: SparkSession, lake: str, dsn: str, window: AggWindow,
               run: str | None = None, load: str | None = None) -> RunResult:
    """Compute one window and replace its rows; the run is recorded in aggregation_runs under
    `run` (default: a new unique name; an existing name: see claim_run).
    `load`: "copy" (the figures collected to the driver as Arrow, then COPY) or "jdbc" (Spark's
    JDBC writer). By default COPY when Spark runs in this process (local master: its tasks run
    in this process too), JDBC on a cluster, where the figures stay on the executors."""
    import psycopg2

    load = load or ("copy" if spark.sparkContext.master.startswith("local") else "jdbc")

    run = run or f"{window.granularity}-{window.start}-{window.end}-{uuid.uuid4().hex[:8]}"
    started = dt.datetime.now(dt.UTC)
    conn = psycopg2.connect(dsn)
    try:
        with conn:
            ensure_partitions(conn, window.start.year - 1, window.end.year + 1)
        replaced = claim_run(conn, run, window, started)
        mine = (run, started)  # this attempt's row: a newer attempt under the name replaces it
        try:
            first, last = window.utc_dates
            events = read_events(spark, lake, first, last)
            with conn:
                owners = load_owners(spark, conn)
            csv = b""
            orphans = 0
            result = None
            if events is not None:
                found = utc_text(figures(events, owners, window))
                if load == "copy":
                    csv, orphans = _csv_and_orphans(found.toArrow(), window, run, started)
                else:  # cache the figures (one row per user and period), not the events
                    found = found.persist()
                    result = in_window(found, window)
                    orphans = (found.filter(F.col("user_id").isNull())
                               .agg(F.sum("readings")).first()[0] or 0)
            with conn:  # one transaction: the window's rows and the run's success
                with conn.cursor() as cur:  # still ours? (locked until the commit)
                    cur.execute("""SELECT 1 FROM aggregation_runs WHERE run = %s
                                     AND started_at = %s AND status = 'running' FOR UPDATE""",
                                mine)
                    if cur.fetchone() is None:
                        raise RunConflict(f"run {run} was taken over by a newer attempt under "
                                          "the same name; this one wrote nothing")
                if load == "jdbc" and result is not None:
                    written = replace_window_jdbc(conn, window, result, dsn, run, started)
                else:
                    written = replace_window(conn, window, csv)
                with conn.cursor() as cur:
                    cur.execute("""UPDATE aggregation_runs SET finished_at = now(),
                                     rows_written = %s, events_without_owner = %s,
                                     status = 'succeeded' WHERE run = %s AND started_at = %s""",
                                (written, orphans, *mine))
        except BaseException as exc:
            conn.rollback()
            with conn, conn.cursor() as cur:  # only this attempt's row, never a newer one's
                cur.execute("""UPDATE aggregation_runs SET finished_at = now(), status = 'failed',
                                 error = %s WHERE run = %s AND started_at = %s
                                 AND status = 'running'""", (repr(exc)[:2000], *mine))
            raise
        finally:
            spark.catalog.clearCache()
    finally:
        conn.close()
    return RunResult(run, window, written, orphans, replaced)


# --- dirty windows ------------------------------------------------------------------------------
def dirty_utc_dates(conn, granularity: str) -> tuple[list[dt.date], dt.datetime]:
    """UTC dates that received rows since they were last aggregated at this granularity, and
    the snapshot time that marks them clean once the run succeeds."""
    with conn.cursor() as cur:
        cur.execute("SELECT now()")
        snapshot = cur.fetchone()[0]
        cur.execute("""SELECT d.event_date FROM dirty_dates d
                       LEFT JOIN aggregation_clean c
                         ON c.granularity = %s AND c.event_date = d.event_date
                       WHERE c.clean_as_of IS NULL OR d.last_dirtied_at > c.clean_as_of
                       ORDER BY 1""", (granularity,))
        return [r[0] for r in cur.fetchall()], snapshot


def newly_owned_devices(conn, granularity: str) -> list[str]:
    """Devices that got an owner after this granularity's last dirty run."""
    with conn.cursor() as cur:
        cur.execute("""SELECT device_id FROM devices WHERE user_id IS NOT NULL AND owner_since >
                         coalesce((SELECT clean_as_of FROM aggregation_clean
                                   WHERE granularity = %s AND event_date = '0001-01-01'),
                                  '-infinity')""", (granularity,))
        return [r[0] for r in cur.fetchall()]


def dates_of_devices(spark: SparkSession, lake: str, devices: list[str]) -> list[dt.date]:
    if not devices:
        return []
    events = read_events(spark, lake, None, None)
    if events is None:
        return []
    return [r[0] for r in events.filter(F.col("device_id").isin(devices))
            .select("event_date").distinct().collect()]


def run_dirty(spark: SparkSession, lake: str, dsn: str, granularity: str,
              run: str | None = None) -> list[RunResult]:
    """Recompute only the windows that dirty dates (and newly owned devices) touch, then
    mark those dates clean as of the snapshot taken before reading. With `run`, each window's
    run is named window_run_name(run, window); if one of those names already succeeded, the
    run is refused (RunConflict) before any window is written."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn:
            dirty, snapshot = dirty_utc_dates(conn, granularity)
            devices = newly_owned_devices(conn, granularity)
        utc_dates = set(dirty) | set(dates_of_devices(spark, lake, devices))
        local = {d + dt.timedelta(days=k) for d in utc_dates for k in (-1, 0, 1)}
        windows = merge_windows(granularity, local)
        names = [window_run_name(run, w) if run else None for w in windows]
        if run:
            with conn:
                refuse_succeeded(conn, [n for n in names if n])
        results = [run_window(spark, lake, dsn, w, n) for w, n in zip(windows, names, strict=True)]
        with conn, conn.cursor() as cur:
            for d in sorted(utc_dates | {dt.date(1, 1, 1)}):  # 0001-01-01: the owners marker
                cur.execute("""INSERT INTO aggregation_clean (granularity, event_date, clean_as_of)
                               VALUES (%s, %s, %s) ON CONFLICT (granularity, event_date)
                               DO UPDATE SET clean_as_of = EXCLUDED.clean_as_of""",
                            (granularity, d, snapshot))
        return results
    finally:
        conn.close()
