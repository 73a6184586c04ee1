"""The producer's grouping of small calls against the real broker: many concurrent one-record
calls, each answered only once Kafka acknowledged its record, all of them in the topic once,
and each key's records in the order of its calls."""

from __future__ import annotations

import asyncio
import collections
import uuid

import pytest

from smartwatch.api.producer import EventProducer, KafkaUnavailable
from smartwatch_dev.stack.process import free_port
from tests.kafka_reader import TopicReader

pytestmark = pytest.mark.integration

DEVICES, PER_DEVICE = 40, 25


def test_concurrent_single_records_land_once_in_order(api) -> None:
    topic = api["events_topic"]
    run = uuid.uuid4().hex[:8]
    reader = TopicReader(api["bootstrap"], topic)
    since = reader.mark()

    async def main() -> tuple[int, set[int]]:
        producer = EventProducer(api["bootstrap"], compression="lz4", timeout=10)
        await producer.start()
        try:
            async def device(d: int) -> None:  # one call after the other, as one watch sends
                for n in range(PER_DEVICE):
                    await producer.send_all([(topic, f"{run}-{d}".encode(), f"{n}".encode())])

            await asyncio.gather(*[device(d) for d in range(DEVICES)])
            return producer.grouped_sends, producer.grouped_calls
        finally:
            await producer.stop()

    sends, calls = asyncio.run(main())
    assert calls == DEVICES * PER_DEVICE
    assert sends < calls / 4, "concurrent calls should share produce requests"
    got: dict[bytes, list[int]] = collections.defaultdict(list)
    for record in reader.records(since, DEVICES * PER_DEVICE):
        if record.key.startswith(run.encode()):
            got[record.key].append(int(record.value))
    assert {k: v for k, v in got.items()} == {
        f"{run}-{d}".encode(): list(range(PER_DEVICE)) for d in range(DEVICES)}


def test_a_call_fails_within_its_bound_when_kafka_is_not_there() -> None:
    async def main() -> float:
        producer = EventProducer(f"127.0.0.1:{free_port()}", compression="lz4", timeout=1.5)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        results = await asyncio.gather(
            *[producer.send_all([("t", b"k", b"v")]) for _ in range(5)], return_exceptions=True)
        assert all(isinstance(r, KafkaUnavailable) for r in results), results
        await producer.stop()
        return loop.time() - t0

    assert asyncio.run(main()) < 1.5 + 1.0
