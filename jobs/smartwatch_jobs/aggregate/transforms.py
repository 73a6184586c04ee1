"""The aggregation's transforms: plain DataFrame -> DataFrame (and Column) functions, no
actions and no I/O, each tested on a few hand-written rows
(tests/integration/jobs/test_aggregate_transforms.py). `compute.figures` chains them."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from smartwatch.events import ASLEEP_STATES
from smartwatch.periods import AVERAGES, COMBINE, MEASURES, Window, granularity
from smartwatch_jobs.schema import POSITION

# The fields of an event that its figures use, and where a copy of it was received.
DEDUP_FIELDS = ("device_id", "measured_at", "heart_rate_bpm", "steps", "sleep_state")
# A candidate is a group of its own: unique per event (_cand), with its id and Kafka
# position; null for the other events.
CANDIDATE_KEYS = ("_cand", "_cid", *(f"_c{c}" for c in POSITION))
DAY_MICROS = 86_400_000_000
UTC_TEXT = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'+00:00'"  # the session time zone is UTC


def kafka_position() -> Column:
    """Where a copy of an event was received: the first received, then the lowest Kafka
    position, wins. Unique per Kafka record."""
    return F.struct(*POSITION)


#: A reading's identity: the device's own id of it. Watches number their readings 1, 2, 3,
#: ..., so equal event_ids of two devices are two readings.
IDENTITY = ("device_id", "event_id")


def id_hash() -> Column:
    """A 64-bit hash of a reading's identity (IDENTITY). Equal identities have equal hashes;
    unequal ones that collide only send both events through the exact path."""
    return F.xxhash64(*IDENTITY)


def dedup_by_id(events: DataFrame) -> DataFrame:
    """Every event grouped by its identity (device_id, event_id): a hash aggregate of min_by
    over kafka_position."""
    position = kafka_position()
    rest = [c for c in DEDUP_FIELDS if c not in IDENTITY]
    first = F.min_by(F.struct(*rest), position)
    return (events.groupBy(*IDENTITY).agg(first.alias("_e"))
            .select("event_id", *[F.col(c) if c in IDENTITY else F.col("_e")[c].alias(c)
                                  for c in DEDUP_FIELDS]))


def mark_candidates(hashed: DataFrame, shared: DataFrame) -> DataFrame:
    """`hashed`: events with their id hash `_h`; `shared`: the hashes (`_h`) that occur more
    than once. The events with the CANDIDATE_KEYS columns: for an event with a shared hash
    a unique `_cand`, its identity (a struct of IDENTITY) and its Kafka position; nulls for
    the others."""
    marks = shared.withColumn("_shared", F.lit(True))
    candidate = F.col("_shared").isNotNull()
    return hashed.join(F.broadcast(marks), "_h", "left").select(
        "event_id", *DEDUP_FIELDS,
        F.when(candidate, F.monotonically_increasing_id()).alias("_cand"),
        F.when(candidate, F.struct(*IDENTITY)).alias("_cid"),
        *(F.when(candidate, F.col(c)).alias(f"_c{c}") for c in POSITION))


def wall_micros(width: int) -> Column:
    """`measured_at` in the owner's zone as wall-clock microseconds since the epoch, from the
    offset columns of owners.owner_frame; null outside their span or without offsets. A
    row's offset takes a few comparisons: several times cheaper than from_utc_timestamp,
    which converts each row through java.time objects."""
    micros = F.unix_micros(F.col("measured_at"))
    within = F.when(micros < F.col("_b1"), F.col("_o0"))
    for i in range(2, width + 1):
        within = within.when(micros < F.col(f"_b{i}"), F.col(f"_o{i - 1}"))
    within = within.otherwise(F.col(f"_o{width}"))
    return F.when((micros >= F.col("_from")) & (micros < F.col("_until")), micros + within)


def period_columns(day: Column) -> dict[str, Column]:
    """Every granularity's period key columns (smartwatch.periods) of a local date."""
    week_start = F.date_sub(day, F.weekday(day))
    return {"week_start": week_start,
            "iso_year": F.year(F.date_add(week_start, 3)),  # its Thursday's year
            "iso_week": F.weekofyear(day),
            "month_start": F.trunc(day, "month"),
            "year": F.year(day),
            "month": F.month(day)}


def localise(events: DataFrame, devices: DataFrame, width: int,
             granularity_name: str) -> DataFrame:
    """Events with the owner (user_key) who held the device when each was measured, the local
    date in that owner's zone then, and the granularity's period columns; those of devices
    without owner have nulls there. `devices` and `width`: the owners'
    devices with their zones' offsets, from owners.owner_frame."""
    # The wall-clock day, floored exactly with integers; row by row where there is no offset.
    local_date = F.coalesce(
        F.expr(f"date_from_unix_date(CAST((_wall - pmod(_wall, {DAY_MICROS})) "
               f"div {DAY_MICROS} AS INT))"),
        F.to_date(F.from_utc_timestamp("measured_at", F.col("owner_zone"))))
    keys = granularity(granularity_name).keys
    # Each reading joins the span of its device that holds its measured_at: the owner who
    # held the device then, in the zone they lived in then (owners.owner_frame).
    spans = devices.withColumnRenamed("device_id", "_span_device")
    micros = F.unix_micros(F.col("measured_at"))
    held = ((F.col("device_id") == F.col("_span_device")) & (micros >= F.col("_span_from"))
            & (micros < F.col("_span_until")))
    return (events.join(spans, held, "left")
            .withColumn("_wall", wall_micros(width))
            .withColumn("local_date", local_date)
            .drop("_wall", "_span_device", *[c for c in devices.columns if c.startswith("_")])
            # The period columns of the window's granularity, in one projection (each
            # DataFrame step costs an analysis of the plan: it shows in a --dirty run).
            .withColumns({name: column for name, column in
                          period_columns(F.col("local_date")).items() if name in keys}))


def measures(df: DataFrame, granularity_name: str, extra_keys: tuple[str, ...] = ()) -> DataFrame:
    """Localised events -> the measures of each user_key and period (and `extra_keys`)."""
    hr = F.col("heart_rate_bpm")
    asleep = F.col("sleep_state").isin([s.value for s in ASLEEP_STATES])
    sleep_hr = F.when(asleep, hr)
    keys = ["user_key", *granularity(granularity_name).keys[1:], *extra_keys]
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
    """The averages (smartwatch.periods.AVERAGES) of the sums and counts: null without
    samples."""
    return figures.withColumns({
        name: F.when(F.col(count) > 0, F.col(total) / F.col(count))
        for name, (total, count) in AVERAGES.items()})


def first_copies_added(grouped: DataFrame, granularity_name: str) -> DataFrame:
    """`grouped`: measures keyed by period and CANDIDATE_KEYS (null but for candidates, each
    its own group). Of each candidate identity (device and id), the first copy (first
    received, then the lowest Kafka position; copies at one position are one record landed
    twice, alike) joins the figures of its period; the other copies are dropped. Both steps
    work on groups, few next to the events."""
    keys = ["user_key", *granularity(granularity_name).keys[1:]]
    alone = F.col("_cid").isNull()
    first = F.min_by(F.struct(*keys, *COMBINE),
                     F.struct(*(f"_c{c}" for c in POSITION), "_cand"))
    firsts = (grouped.groupBy("_cid", *(F.when(alone, F.col(k)).alias(f"_{k}") for k in keys))
              .agg(first.alias("_first")).select("_first.*"))
    combined = firsts.groupBy(*keys).agg(
        *(getattr(F, how)(c).alias(c) for c, how in COMBINE.items()))
    return with_averages(combined).select(*keys, *MEASURES)


def with_users(grouped: DataFrame, users: DataFrame, granularity_name: str) -> DataFrame:
    """Figures keyed by user_key -> keyed by user_id (`users`: user_key, user_id)."""
    return (grouped.join(users, "user_key", "left")
            .select(*granularity(granularity_name).keys, *MEASURES))


def in_window(figures: DataFrame, window: Window) -> DataFrame:
    """The rows of users' periods in the window."""
    period = F.col(window.spec.period_column)
    return figures.filter(F.col("user_id").isNotNull()
                          & period.between(F.lit(window.start), F.lit(window.end)))


def utc_text(figures: DataFrame) -> DataFrame:
    """first_at and last_at as text in UTC, as COPY and the JDBC staging table load them."""
    return figures.withColumns({c: F.date_format(c, UTC_TEXT) for c in ("first_at", "last_at")})
