"""One aiokafka producer for the app: acks=all, idempotent, compressed, keyed by device id.
`send_all` returns only once Kafka acknowledged every record, within a bound."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2

log = logging.getLogger(__name__)


BATCH_API_MIN = 50  # records of one call from which it goes as batches of its own
KEY_HASHES_MAX = 1_000_000  # cached key hashes (device ids) before the cache starts over


class KafkaUnavailable(Exception):
    """Kafka did not acknowledge in time (or cannot be reached)."""


class EventProducer:
    def __init__(self, bootstrap: str, *, compression: str, timeout: float,
                 linger_ms: int = 0, client_options: dict[str, object] | None = None) -> None:
        self.bootstrap = bootstrap
        self.client_options = client_options or {}
        self.linger_ms = linger_ms
        self.compression = None if compression == "none" else compression
        self.timeout = timeout
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._key_hashes: dict[bytes, int] = {}

    async def _ensure(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True,
                    compression_type=self.compression, linger_ms=self.linger_ms,
                    max_batch_size=512 * 1024, max_request_size=8 * 1024 * 1024,
                    request_timeout_ms=int(self.timeout * 1000), **self.client_options)
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
        return self._producer

    async def start(self) -> None:
        """Connect now if Kafka is there; otherwise the first request retries."""
        try:
            async with asyncio.timeout(self.timeout):
                await self._ensure()
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning("Kafka not reachable at start-up (%s); will retry on demand", exc)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def send_all(self, records: Sequence[tuple[str, bytes | None, bytes]]) -> None:
        """(topic, key, value) records; raises KafkaUnavailable unless all were acknowledged
        within the timeout. A call of BATCH_API_MIN records or more goes as one batch a
        partition (aiokafka's batch API: a future a batch, not one a record, which was most of
        the cost of sending), to the partition the producer's default partitioner would pick
        for the key. Fewer records go through the producer's shared batches: there, the records
        of concurrent small calls share one produce request a partition, where batches of
        their own would each wait for the partition's previous one."""
        try:
            async with asyncio.timeout(self.timeout):
                producer = await self._ensure()
                if len(records) < BATCH_API_MIN:
                    futures = [await producer.send(topic, value, key=key)
                               for topic, key, value in records]
                    if futures:
                        await asyncio.gather(*futures)
                    return
                partitions: dict[str, list[int]] = {}
                batches: dict[tuple[str, int], Any] = {}
                pending = []
                for topic, key, value in records:
                    if topic not in partitions:
                        partitions[topic] = sorted(await producer.partitions_for(topic))
                    partition = self._partition(partitions[topic], key)
                    batch = batches.get((topic, partition))
                    if batch is None:
                        batch = batches[topic, partition] = producer.create_batch()
                    if batch.append(key=key, value=value, timestamp=None) is None:  # full
                        pending.append(await producer.send_batch(batch, topic,
                                                                 partition=partition))
                        batch = batches[topic, partition] = producer.create_batch()
                        batch.append(key=key, value=value, timestamp=None)  # the first fits
                for (topic, partition), batch in batches.items():
                    pending.append(await producer.send_batch(batch, topic, partition=partition))
                if pending:
                    await asyncio.gather(*pending)
        except TimeoutError:
            raise KafkaUnavailable(f"Kafka did not acknowledge within {self.timeout:g}s") from None
        except (KafkaError, OSError) as exc:
            raise KafkaUnavailable(f"Kafka error: {exc!r}") from None

    def _partition(self, partitions: list[int], key: bytes | None) -> int:
        """Kafka's default partitioner (murmur2 of the key, as the Java client and aiokafka
        do), its hash cached per key; a record without key goes to a random partition."""
        if key is None:
            return random.choice(partitions)
        hashed = self._key_hashes.get(key)
        if hashed is None:
            if len(self._key_hashes) >= KEY_HASHES_MAX:
                self._key_hashes.clear()
            hashed = self._key_hashes[key] = murmur2(key) & 0x7FFFFFFF
        return partitions[hashed % len(partitions)]

    async def ready(self) -> bool:
        try:
            async with asyncio.timeout(min(self.timeout, 3)):
                producer = await self._ensure()
                await producer.client.fetch_all_metadata()
                return True
        except (KafkaError, OSError, TimeoutError):
            return False
