"""The Spark session of a job: built once in `main`, never at import time."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession

from smartwatch.settings import Settings

#: The logging of local runs: warnings and errors, no banner (the file says which are left out).
LOG_CONFIG = Path(__file__).with_name("log4j2.properties")


def submitted() -> bool:
    """Whether this driver runs under spark-submit (the SparkApplication's driver, or
    `spark-submit submit.py ...` by hand): spark-submit started the JVM and hands its gateway
    to Python (PYSPARK_GATEWAY_PORT), having loaded Spark's environment (SPARK_ENV_LOADED), or
    a Spark context is already running in this process."""
    return bool(os.environ.get("PYSPARK_GATEWAY_PORT") or os.environ.get("SPARK_ENV_LOADED")
                or SparkContext._active_spark_context is not None)


def session(app_name: str, settings: Settings, shuffle_partitions: int, *,
            aot_output: Path | None = None) -> SparkSession:
    """Local runs get the settings' master, jars, Java and ahead-of-time cache (the local CLI
    fills those from the set-up cache; a job never looks there itself); under spark-submit
    (the SparkApplication) master, jars, the driver's JVM options and the application name
    come from its configuration (the image ships its jars), and the job's
    own settings below apply only where that configuration leaves them unset, except the
    session time zone, which is always UTC (the job relies on it)."""
    if submitted():
        return _submitted_session(app_name, shuffle_partitions)
    conf = SparkConf()
    builder = SparkSession.builder.appName(app_name)
    env: dict[str, str] = {}
    if not conf.contains("spark.master"):
        builder = builder.master(settings.spark_master)
        if settings.spark_master.startswith("local"):  # listen on loopback only
            # The address Spark names itself by: without it, it warns that the host name
            # resolves to loopback and picks another interface's address.
            env["SPARK_LOCAL_IP"] = "127.0.0.1"
            builder = (builder.config("spark.driver.host", "127.0.0.1")
                       .config("spark.driver.bindAddress", "127.0.0.1")
                       # Files of many date folders are listed by the driver, not by a Spark
                       # job (which in local mode runs on the same cores, after a start-up):
                       # 3.5 s to 1.4 s for the 91 folders of a 90-day window.
                       .config("spark.sql.sources.parallelPartitionDiscovery.threshold",
                               "100000"))
    if not conf.contains("spark.driver.memory"):
        builder = builder.config("spark.driver.memory", settings.spark_driver_memory)
    if not conf.contains("spark.jars") and settings.spark_jars:
        builder = builder.config("spark.jars", ",".join(str(p) for p in settings.spark_jars))
    for key, value in _job_conf(shuffle_partitions).items():
        builder = builder.config(key, value)
    # The parallel collector: these are throughput jobs, and with the 20M-event aggregation
    # benchmark it took 50 s (first run) and 31 s (warm) where the default G1 took 58 and 39.
    java_home = settings.spark_java_home
    # The JVM's own warnings (an ahead-of-time cache it cannot use, say) go to stderr: a
    # command's stdout is its output alone (`smartwatch audit --json`).
    options = ["-Duser.timezone=UTC", "-XX:+UseParallelGC", "-Xlog:disable",
               "-Xlog:all=warning:stderr"]
    if LOG_CONFIG.exists():
        options.append(f"-Dlog4j2.configurationFile={LOG_CONFIG.as_uri()}")
    # The ahead-of-time cache (smartwatch_dev.aot): written by its training run, used by
    # every other local run when `make setup` built it for this Java.
    aot = settings.spark_aot_cache
    if aot_output is not None:
        options.append(f"-XX:AOTCacheOutput={aot_output}")
    elif aot is not None and aot.exists():
        options.append(f"-XX:AOTCache={aot}")
    builder = builder.config("spark.driver.extraJavaOptions", " ".join(options))
    if java_home is not None:
        env["JAVA_HOME"] = str(java_home)
    with _jvm_environment(env):
        return builder.getOrCreate()


@contextmanager
def _jvm_environment(values: dict[str, str]) -> Iterator[None]:
    """Environment of the Spark JVM this process starts (pyspark starts it with this
    process's environment), restored afterwards so other tools keep theirs."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _job_conf(shuffle_partitions: int) -> dict[str, str]:
    return {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    }


def _submitted_session(app_name: str, shuffle_partitions: int) -> SparkSession:
    # Connect to spark-submit's JVM first, so SparkConf() holds what spark-submit was given.
    SparkContext._ensure_initialized()
    submitted_conf = SparkConf()
    builder = SparkSession.builder
    if not submitted_conf.contains("spark.app.name"):
        builder = builder.appName(app_name)
    for key, value in _job_conf(shuffle_partitions).items():
        if key == "spark.sql.session.timeZone" or not submitted_conf.contains(key):
            builder = builder.config(key, value)
    return builder.getOrCreate()


def quiet(spark: SparkSession) -> SparkSession:
    spark.sparkContext.setLogLevel("WARN")
    return spark
