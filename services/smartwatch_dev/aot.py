"""An ahead-of-time cache for the JVM of local Spark jobs (Java 25 and newer).

A new JVM spends much of a job's first run loading classes and profiling and compiling hot
code. Java 25 can record, in a training run, the classes it loaded and linked and the
profiles of the methods it ran, into a cache that later JVMs start from
(`-XX:AOTCacheOutput`, `-XX:AOTCache`). `make setup` runs the training below once per Spark
version and Java build (the `spark-aot` step); `session()` then starts local jobs from the
cache when there is one. The training runs the aggregation's own code (read, deduplicate,
localise, group, collect as Arrow) on a small lake it writes itself; the cache holds no data.

`python -m smartwatch_dev.aot OUTPUT` trains and writes OUTPUT.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from smartwatch.settings import Settings

EVENTS = 1_000_000
DEVICES = 200
ZONES = ("America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Sydney")
START = dt.date(2026, 3, 20)  # DST changes inside the training days
DAYS = 20


def _write_lake(spark: SparkSession, lake: str) -> None:
    """EVENTS readings over DAYS days, with a resent copy of every 50th one."""
    start = int(dt.datetime(START.year, START.month, START.day, tzinfo=dt.UTC).timestamp())
    i = F.col("id")
    base = spark.range(EVENTS).select(
        i, F.concat(F.lit("e"), i.cast("string")).alias("event_id"),
        F.concat(F.lit("dev"), (i % DEVICES).cast("string")).alias("device_id"),
        F.timestamp_seconds(F.lit(start) + (i * (DAYS * 86400) / EVENTS).cast("long")).alias("measured_at"),
        F.when(i % 10 == 0, None).otherwise(50 + i % 97).cast("double").alias("heart_rate_bpm"),
        (i % 130).alias("steps"),
        F.element_at(F.array(*map(F.lit, ("awake", "light", "deep", "rem"))),
                     (i % 4 + 1).cast("int")).alias("sleep_state"),
        F.timestamp_seconds(F.lit(start + DAYS * 86400)).alias("received_at"),
        (i % 6).cast("int").alias("kafka_partition"), i.alias("kafka_offset"))
    resent = (base.filter(i % 50 == 0)
              .withColumn("received_at", F.col("received_at") + F.expr("INTERVAL 5 MINUTES"))
              .withColumn("kafka_offset", F.col("kafka_offset") + EVENTS))
    (base.unionByName(resent).drop("id").withColumn("event_date", F.to_date("measured_at"))
     .write.partitionBy("event_date").parquet(lake))


def train(spark: SparkSession, folder: str) -> None:
    from smartwatch.periods import align
    from smartwatch_jobs import aggregate as agg

    lake = f"file://{folder}/lake"
    _write_lake(spark, lake)
    owners = agg.make_owners(spark, [(f"dev{d}", f"user{d}", ZONES[d % len(ZONES)])
                                     for d in range(DEVICES)])
    for granularity in ("daily", "weekly"):
        window = align(granularity, START, START + dt.timedelta(days=DAYS - 1))
        first, last = window.utc_dates
        events = agg.read_events(spark, lake, first, last)
        assert events is not None
        agg.utc_text(agg.figures(events, owners, window)).toArrow()


def main(argv: list[str]) -> int:
    from smartwatch_jobs.spark import session

    if len(argv) != 1:
        print("usage: python -m smartwatch_dev.aot OUTPUT", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f"{out.name}.{os.getpid()}.partial")
    settings = Settings(spark_master="local[*]")
    spark = session("smartwatch-aot-training", settings, 8, aot_output=partial)
    jvm_process = spark.sparkContext._gateway.proc  # type: ignore[union-attr]
    trained = False
    with tempfile.TemporaryDirectory(prefix="smartwatch-aot-") as folder:
        try:
            train(spark, folder)
            trained = True
        finally:
            spark.stop()
            jvm_process.stdin.close()  # the JVM exits, and writes the cache as it does
            jvm_process.wait(timeout=600)
            if not trained:
                partial.unlink(missing_ok=True)
    if not partial.exists():
        print(f"the JVM wrote no cache at {partial}", file=sys.stderr)
        return 1
    partial.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
