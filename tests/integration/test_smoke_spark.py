"""pyspark reads a topic of the local broker through the Kafka connector (local jars only)."""

import asyncio
import json
import uuid

import pytest

from tests.integration.kafka_roundtrip import roundtrip

pytestmark = pytest.mark.integration


def test_spark_reads_topic_through_kafka_connector(kafka_bootstrap: str, spark) -> None:
    topic = f"smoke-spark-{uuid.uuid4().hex[:8]}"
    sent = [{"device_id": f"d{i % 3}", "steps": i} for i in range(40)]
    asyncio.run(roundtrip(kafka_bootstrap, topic, [json.dumps(e).encode() for e in sent]))

    df = (spark.read.format("kafka")
          .option("kafka.bootstrap.servers", kafka_bootstrap)
          .option("subscribe", topic)
          .option("startingOffsets", "earliest")
          .option("endingOffsets", "latest")
          .load())
    rows = df.selectExpr("CAST(key AS STRING) AS k", "CAST(value AS STRING) AS v",
                         "offset").orderBy("offset").collect()
    assert [json.loads(r.v) for r in rows] == sent
    assert {r.k for r in rows} == {"device-1"}


def test_local_spark_runs_on_the_chosen_java_and_its_aot_cache(spark) -> None:
    """The session's JVM is the Java toolchain.spark_java_home() picks, started from the
    ahead-of-time cache when make setup built one for it."""
    from pathlib import Path

    from smartwatch_dev import toolchain

    jvm = spark.sparkContext._jvm
    home = toolchain.spark_java_home()
    if home is None:
        pytest.skip("no Java of SPARK_JAVA_RELEASES found: Spark runs on JAVA_HOME or PATH's")
    running = Path(str(jvm.System.getProperty("java.home")))
    assert running.resolve() == home.resolve()
    args = list(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())
    aot = toolchain.spark_aot_cache(home)
    if aot is None or not aot.exists():
        assert not any(a.startswith("-XX:AOTCache") for a in args)
    else:
        assert f"-XX:AOTCache={aot}" in args
