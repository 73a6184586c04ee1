"""Reading back what the pipeline wrote to a topic, from a marked position on."""

from __future__ import annotations

import asyncio
import json
from typing import Any


async def _end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap)  # subscribing loads metadata
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        ends = await consumer.end_offsets(parts)
        return {tp.partition: off for tp, off in ends.items()}
    finally:
        await consumer.stop()


async def _read(bootstrap: str, topic: str, since: dict[int, int], count: int,
                timeout: float) -> list[Any]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    out: list[Any] = []
    try:
        parts = [TopicPartition(topic, p) for p in since]
        consumer.assign(parts)
        for tp in parts:
            consumer.seek(tp, since[tp.partition])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(out) < count and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                out.extend(records)
        # Anything beyond `count` that is already there would be a surplus: collect it too.
        batch = await consumer.getmany(timeout_ms=500)
        for records in batch.values():
            out.extend(records)
    finally:
        await consumer.stop()
    return out


class TopicReader:
    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic

    def mark(self) -> dict[int, int]:
        return asyncio.run(_end_offsets(self.bootstrap, self.topic))

    def records(self, since: dict[int, int], count: int, timeout: float = 20) -> list[Any]:
        return asyncio.run(_read(self.bootstrap, self.topic, since, count, timeout))

    def values(self, since: dict[int, int], count: int, timeout: float = 20) -> list[dict]:
        return [json.loads(r.value) for r in self.records(since, count, timeout)]
