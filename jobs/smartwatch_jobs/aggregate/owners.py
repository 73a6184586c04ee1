"""The registry's owners as the job uses them: small integer keys for users and zones, and
each device with its zone's UTC offsets over the span a window reads (asked of Spark's JVM,
so that they are the offsets Spark's own from_utc_timestamp would apply)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from smartwatch.periods import Window

# A zone with more UTC offsets than this inside a window (decades of DST changes) is
# localised row by row with from_utc_timestamp instead.
MAX_OFFSETS_PER_ZONE = 64

USER_SCHEMA = T.StructType([T.StructField("user_key", T.IntegerType(), False),
                            T.StructField("user_id", T.StringType(), False)])


@dataclass(frozen=True)
class Owners:
    """The registry's owners, with a small integer for each user and each zone: the events
    are grouped by user_key (integer keys group several times faster than strings), and
    user_id is joined to the figures. Ownership and zones have history: a device has one
    entry a span of one owner in one zone (smartwatch.history), with its start and end in
    epoch microseconds (None: open)."""

    devices: list[tuple[str, int, int, int | None, int | None]]  # device, user, zone, start, end
    users: DataFrame  # user_key, user_id; broadcast
    zones: tuple[str, ...]  # the distinct owner zones; zone_key is the index in it


def _micros(at: dt.datetime | None) -> int | None:
    if at is None:
        return None
    return (at - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


def make_owners(spark: SparkSession, rows: Iterable[tuple]) -> Owners:
    """Owners of (device_id, user_id, time_zone) rows, one owner and zone for all time, or of
    (device_id, user_id, time_zone, start, end) spans (aware datetimes or None)."""
    spans = [(*r, None, None) if len(r) == 3 else tuple(r) for r in rows]
    user_ids = tuple(sorted({r[1] for r in spans}))
    users = {u: i for i, u in enumerate(user_ids)}
    zones = tuple(sorted({r[2] for r in spans}))
    zone_key = {z: i for i, z in enumerate(zones)}
    return Owners([(d, users[u], zone_key[z], _micros(a), _micros(b)) for d, u, z, a, b in spans],
                  F.broadcast(spark.createDataFrame(list(enumerate(user_ids)), USER_SCHEMA)),
                  zones)


def utc_span(window: Window) -> tuple[int, int]:
    """The epoch seconds of the UTC dates a window reads: from the first one's midnight to
    the end of the last."""
    first, last = window.utc_dates
    epoch = dt.date(1970, 1, 1)
    return (first - epoch).days * 86_400, (last - epoch).days * 86_400 + 86_400


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
    """The owners' devices (device_id, user_key, owner_zone), one row a span of one owner in
    one zone within epoch seconds `start` and `end` (`_span_from`, `_span_until`, in
    microseconds: a reading belongs to the row whose span holds its measured_at), each with
    its zone's UTC offsets as columns (microseconds): `_from` and `_until` (the window's span; null
    with the offsets), `_o0` the offset from `_from`, `_oN` the one from `_bN` (N = 1..width);
    padded to a width of at least 2, so that windows with as many offset changes share
    Spark's generated code. Null offsets for zones that utc_offsets does not cover. Returns
    the frame and the width; its own columns are the ones starting with "_"."""
    offsets = [utc_offsets(spark, zone, start, end) for zone in owners.zones]
    width = max([2, *(len(p) - 1 for p in offsets if p)])
    columns = (["_from", "_until"] + [f"_b{i}" for i in range(1, width + 1)]
               + [f"_o{i}" for i in range(width + 1)])
    span = [start * 1_000_000, end * 1_000_000]
    per_zone: list[list[int] | list[None]] = []
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
         T.StructField("owner_zone", T.StringType(), False),
         T.StructField("_span_from", T.LongType(), False),
         T.StructField("_span_until", T.LongType(), False)]
        + [T.StructField(c, T.LongType()) for c in columns])
    rows = []
    for device, user, zone, first, last in owners.devices:
        # The span of this owner and zone, within the window's: readings outside it belong
        # to another span of the device (transforms.localise joins on it).
        lo = span[0] if first is None else max(first, span[0])
        hi = span[1] if last is None else min(last, span[1])
        if lo >= hi:
            continue
        rows.append((device, user, owners.zones[zone], lo, hi, *per_zone[zone]))
    return F.broadcast(spark.createDataFrame(rows, schema)), width
