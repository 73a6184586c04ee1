"""The figures of a window's events: the transforms chained, with the one action that picks
how events are deduplicated (shared_hashes). Nothing is written here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from smartwatch.periods import Window
from smartwatch_jobs.aggregate.lake import file_bytes
from smartwatch_jobs.aggregate.owners import Owners, owner_frame, utc_span
from smartwatch_jobs.aggregate.transforms import (
    CANDIDATE_KEYS,
    dedup_by_id,
    first_copies_added,
    id_hash,
    localise,
    mark_candidates,
    measures,
    with_users,
)

if TYPE_CHECKING:
    import pyarrow as pa

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
    local = (spark.sparkContext.master or "").startswith("local")
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


def figures(events: DataFrame, owners: Owners, window: Window) -> DataFrame:
    """The figures of every period the events fall in (the window's and, from the UTC days
    read around it, some of its neighbours': keep the window's with `in_window`), each
    reading (one device's one event_id) counted once, plus rows with a null user_id whose
    `readings` count the events of devices without owner (all the window reads): one pass
    over the events serves both.
    The periods are kept after aggregating, since a filter on the local date before it would
    localise each row again.

    The copy of a reading that counts is the first received, then the lowest Kafka
    position, so reruns agree. Repeats are rare, so the events are not all shuffled by
    identity: a 64-bit hash of each (device_id, event_id) is computed, and the hashes that occur more than
    once found (shared_hashes). The events with such a hash, the candidates (every copy of a
    repeated id, and any event that merely shares a hash with another), are each aggregated
    as a group of their own, with their id and Kafka position; then, of each id, the first
    copy's figures join its period's (first_copies_added). Past SHARED_HASHES_MAX shared
    hashes (duplicate-heavy data) every event is grouped by (device_id, event_id) first
    instead. Ids are the device's own: two watches may both number their readings 1, 2, 3."""
    granularity = window.granularity
    hashed = events.withColumn("_h", id_hash())
    shared = shared_hashes(hashed.select("_h"), file_bytes(events))
    devices, width = owner_frame(events.sparkSession, owners, *utc_span(window))
    if shared is None or shared.num_rows == 0:
        unique = dedup_by_id(events) if shared is None else events
        return with_users(measures(localise(unique, devices, width, granularity), granularity),
                          owners.users, granularity)
    marked = mark_candidates(hashed, events.sparkSession.createDataFrame(shared))
    grouped = measures(localise(marked, devices, width, granularity), granularity,
                       CANDIDATE_KEYS)
    return with_users(first_copies_added(grouped, granularity), owners.users, granularity)
