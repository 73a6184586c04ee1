"""The Spark session of a job: built once in `main`, never at import time."""

from __future__ import annotations

from pyspark import SparkConf
from pyspark.sql import SparkSession

from smartwatch.settings import Settings


def session(app_name: str, settings: Settings, shuffle_partitions: int) -> SparkSession:
    """Local runs get the settings' master and the connector jars from the set-up cache;
    under spark-submit (the SparkApplication) master and jars come from its configuration."""
    conf = SparkConf()
    builder = SparkSession.builder.appName(app_name)
    if not conf.contains("spark.master"):
        builder = builder.master(settings.spark_master)
        if settings.spark_master.startswith("local"):  # listen on loopback only
            builder = (builder.config("spark.driver.host", "127.0.0.1")
                       .config("spark.driver.bindAddress", "127.0.0.1"))
    if not conf.contains("spark.jars"):
        from smartwatch import toolchain

        builder = builder.config("spark.jars", ",".join(str(p) for p in toolchain.spark_jars()))
    return (builder
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
            .config("spark.sql.streaming.stateStore.providerClass",
                    "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider")
            .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
            .getOrCreate())


def quiet(spark: SparkSession) -> SparkSession:
    spark.sparkContext.setLogLevel("WARN")
    return spark
