"""pyspark reads a topic of the local broker through the Kafka connector (local jars only)."""

import asyncio
import json
import uuid

import pytest

from tests.integration.test_smoke_kafka import _roundtrip

pytestmark = pytest.mark.integration


def test_spark_reads_topic_through_kafka_connector(kafka_bootstrap: str, spark) -> None:
    topic = f"smoke-spark-{uuid.uuid4().hex[:8]}"
    sent = [{"device_id": f"d{i % 3}", "steps": i} for i in range(40)]
    asyncio.run(_roundtrip(kafka_bootstrap, topic, [json.dumps(e).encode() for e in sent]))

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
