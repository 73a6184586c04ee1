"""One aiokafka producer for the app: acks=all, idempotent, compressed, keyed by device id.
`send_all` returns only once Kafka acknowledged every record, within a bound."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)


class KafkaUnavailable(Exception):
    """Kafka did not acknowledge in time (or cannot be reached)."""


class EventProducer:
    def __init__(self, bootstrap: str, *, compression: str, timeout: float,
                 linger_ms: int = 0) -> None:
        self.bootstrap = bootstrap
        self.linger_ms = linger_ms
        self.compression = None if compression == "none" else compression
        self.timeout = timeout
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _ensure(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True,
                    compression_type=self.compression, linger_ms=self.linger_ms,
                    max_batch_size=512 * 1024, max_request_size=8 * 1024 * 1024,
                    request_timeout_ms=int(self.timeout * 1000))
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
        within the timeout. Records go through the producer's shared per-partition batches,
        so concurrent requests for a partition share produce requests."""
        try:
            async with asyncio.timeout(self.timeout):
                producer = await self._ensure()
                futures = [await producer.send(topic, value, key=key)
                           for topic, key, value in records]
                if futures:
                    await asyncio.gather(*futures)
        except TimeoutError:
            raise KafkaUnavailable(f"Kafka did not acknowledge within {self.timeout:g}s") from None
        except (KafkaError, OSError) as exc:
            raise KafkaUnavailable(f"Kafka error: {exc!r}") from None

    async def ready(self) -> bool:
        try:
            async with asyncio.timeout(min(self.timeout, 3)):
                producer = await self._ensure()
                await producer.client.fetch_all_metadata()
                return True
        except (KafkaError, OSError, TimeoutError):
            return False
