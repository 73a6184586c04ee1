"""The local broker, through aiokafka: what is produced is consumed back, in order."""

import asyncio
import uuid

import pytest

pytestmark = pytest.mark.integration


async def _roundtrip(bootstrap: str, topic: str, values: list[bytes]) -> list[tuple[bytes, bytes]]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True, compression_type="gzip")
    await producer.start()
    try:
        for v in values:
            await producer.send_and_wait(topic, v, key=b"device-1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    got: list[tuple[bytes, bytes]] = []
    try:
        async with asyncio.timeout(30):
            while len(got) < len(values):
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    got.extend((r.key, r.value) for r in records)
    finally:
        await consumer.stop()
    return got


def test_aiokafka_produces_and_consumes(kafka_bootstrap: str) -> None:
    values = [f"reading-{i}".encode() for i in range(50)]
    got = asyncio.run(_roundtrip(kafka_bootstrap, f"smoke-{uuid.uuid4().hex[:8]}", values))
    assert got == [(b"device-1", v) for v in values]


def test_pipeline_topics_exist(kafka_bootstrap: str, stack) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    async def topics() -> set[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()

    names = asyncio.run(topics())
    assert {stack.settings.events_topic, stack.settings.dead_letter_topic} <= names
