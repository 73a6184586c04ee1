"""The local broker, through aiokafka: what is produced is consumed back, in order."""

import asyncio
import uuid

import pytest

from tests.integration.kafka_roundtrip import roundtrip

pytestmark = pytest.mark.integration


def test_aiokafka_produces_and_consumes(kafka_bootstrap: str) -> None:
    values = [f"reading-{i}".encode() for i in range(50)]
    got = asyncio.run(roundtrip(kafka_bootstrap, f"smoke-{uuid.uuid4().hex[:8]}", values))
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
