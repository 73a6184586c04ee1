"""Reading the lake: the rows of some UTC dates (only their folders are listed and read),
the size of a read's files, and the dates that hold readings of some devices. Every read
first checks that the root is a lake of this project (lakeroot)."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from smartwatch_jobs.aggregate.transforms import DEDUP_FIELDS
from smartwatch_jobs.lakeroot import PARTITION_PREFIX, partition_names
from smartwatch_jobs.schema import event_schema

# The lake's columns the job reads; given, so no Parquet footer is read to infer them.
LAKE_SCHEMA = T.StructType(
    [f for f in event_schema().fields if f.name in ("event_id", "received_at", *DEDUP_FIELDS)]
    + [T.StructField("kafka_partition", T.IntegerType()),
       T.StructField("kafka_offset", T.LongType()),
       T.StructField("event_date", T.DateType())])


def read_events(spark: SparkSession, lake: str, first: dt.date | None,
                last: dt.date | None) -> DataFrame | None:
    """The lake's rows of UTC dates [first, last] (None: all), or None if the lake has no date
    in that range. Only those dates' folders are listed and read. A root that does not exist,
    cannot be listed or is not a lake of this project raises LakeError (lakeroot), so a wrong
    lake URI never reads as a lake without readings."""
    base = lake.rstrip("/")
    folders = []
    for name in partition_names(spark, lake):
        try:
            day = dt.date.fromisoformat(name.removeprefix(PARTITION_PREFIX))
        except ValueError:
            continue
        if first is None or last is None or first <= day <= last:
            folders.append(f"{base}/{name}")
    if not folders:
        return None
    return spark.read.schema(LAKE_SCHEMA).option("basePath", base).parquet(*sorted(folders))


def file_bytes(events: DataFrame) -> int:
    """The size of the files a read of the lake reads, from its file listing (no job)."""
    return int(events._jdf.queryExecution().optimizedPlan().stats().sizeInBytes())


def dates_of_devices(spark: SparkSession, lake: str,
                     devices: dict[str, dt.date | None]) -> list[dt.date]:
    """The UTC dates of the lake that hold readings of these devices, each from its date on
    (None: all its dates)."""
    if not devices:
        return []
    events = read_events(spark, lake, None, None)
    if events is None:
        return []
    reached = F.lit(False)
    for device, first in devices.items():
        mine = F.col("device_id") == F.lit(device)
        reached = reached | (mine if first is None else mine & (F.col("event_date") >= F.lit(first)))
    return [r[0] for r in events.filter(reached).select("event_date").distinct().collect()]
