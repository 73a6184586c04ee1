"""One aiokafka producer for the app: acks=all, idempotent, compressed, keyed by device id.
`send_all` returns only once Kafka acknowledged every record, within a bound."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2

log = logging.getLogger(__name__)


BATCH_API_MIN = 50  # records of one call from which it goes as batches of its own
KEY_HASHES_MAX = 1_000_000  # cached key hashes (device ids) before the cache starts over


class KafkaUnavailable(Exception):
    """Kafka did not acknowledge in time (or cannot be reached)."""


_ALL = ("", -1)  # every batch of a group failed


@dataclass(slots=True)
class _Waiter:
    """A small call waiting in a group: its records, its answer, and its time bound."""

    records: Sequence[tuple[str, bytes | None, bytes]]
    future: asyncio.Future[None]
    deadline: float


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
        self._waiting: list[_Waiter] = []  # grouped calls not yet sent
        self._flusher: asyncio.Task[None] | None = None
        self.grouped_calls = 0  # small calls, and the produce requests that carried them
        self.grouped_sends = 0

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
        """Stop after what was handed over has been sent (or has failed)."""
        if self._flusher is not None:
            await asyncio.wait([self._flusher], timeout=self.timeout)
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def send_all(self, records: Sequence[tuple[str, bytes | None, bytes]]) -> None:
        """(topic, key, value) records; raises KafkaUnavailable unless all were acknowledged
        within the timeout. Each record goes to the partition the producer's default
        partitioner would pick for its key, in aiokafka's batch API (a future a batch, not one
        a record, which was most of the cost of sending).

        A call of BATCH_API_MIN records or more goes as batches of its own. Smaller calls
        (one reading a request) are grouped: while one produce request of grouped records is
        on its way, the records of the calls that arrive meanwhile wait together, and go as
        one batch a partition when it has been answered. Kafka answers one produce request
        per broker connection at a time anyway; grouping costs each call a future and a list
        entry instead of a future, a timer and a batch entry per record. A call fails only if
        a batch holding one of its records failed."""
        if len(records) < BATCH_API_MIN:
            if records:
                await self._grouped(records)
            return
        try:
            async with asyncio.timeout(self.timeout):
                producer = await self._ensure()
                batches, _ = await self._batches(producer, records)
                pending = [await producer.send_batch(batch, topic, partition=partition)
                           for (topic, partition), batch in batches]
                await asyncio.gather(*pending)
        except TimeoutError:
            raise KafkaUnavailable(f"Kafka did not acknowledge within {self.timeout:g}s") from None
        except (KafkaError, OSError) as exc:
            raise KafkaUnavailable(f"Kafka error: {exc!r}") from None

    async def _batches(self, producer: AIOKafkaProducer,
                       records: Sequence[tuple[str, bytes | None, bytes]]
                       ) -> tuple[list[tuple[tuple[str, int], Any]], list[tuple[str, int]]]:
        """The records as batches, at most one open a partition, in the records' order; and
        the (topic, partition) of each record."""
        batches: list[tuple[tuple[str, int], Any]] = []
        wheres: list[tuple[str, int]] = []
        open_: dict[tuple[str, int], Any] = {}
        partitions: dict[str, list[int]] = {}
        for topic, key, value in records:
            known = partitions.get(topic)
            if known is None:  # the cluster's current metadata, fetched only when it has none
                found = producer.client.cluster.partitions_for_topic(topic)
                known = partitions[topic] = sorted(found or await producer.partitions_for(topic))
            where = (topic, self._partition(known, key))
            wheres.append(where)
            batch = open_.get(where)
            if batch is None:
                batch = open_[where] = producer.create_batch()
                batches.append((where, batch))
            if batch.append(key=key, value=value, timestamp=None) is None:  # full
                batch = open_[where] = producer.create_batch()
                batches.append((where, batch))
                batch.append(key=key, value=value, timestamp=None)  # the first fits
        return batches, wheres

    async def _grouped(self, records: Sequence[tuple[str, bytes | None, bytes]]) -> None:
        loop = asyncio.get_running_loop()
        waiter = _Waiter(records, loop.create_future(), loop.time() + self.timeout)
        self._waiting.append(waiter)
        self.grouped_calls += 1
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush_groups())
        await waiter.future

    async def _flush_groups(self) -> None:
        """Send what waits, one produce request at a time, until nothing waits."""
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                self.grouped_sends += 1
                await self._send_group(group)
        finally:
            self._flusher = None

    async def _send_group(self, group: list[_Waiter]) -> None:
        loop = asyncio.get_running_loop()
        deadline = min(w.deadline for w in group)  # the first call's bound holds for all
        failed: dict[tuple[str, int], str] = {}
        wheres: list[tuple[str, int]] = []
        try:
            async with asyncio.timeout_at(deadline):
                producer = await self._ensure()
                batches, wheres = await self._batches(
                    producer, [r for w in group for r in w.records])
                futures = [(where, await producer.send_batch(batch, where[0],
                                                             partition=where[1]))
                           for where, batch in batches]
            _, pending = await asyncio.wait([f for _, f in futures],
                                            timeout=max(deadline - loop.time(), 0))
            for where, future in futures:
                if future in pending:
                    future.cancel()
                    failed[where] = f"Kafka did not acknowledge within {self.timeout:g}s"
                elif future.exception() is not None:
                    failed[where] = f"Kafka error: {future.exception()!r}"
        except TimeoutError:
            failed = {_ALL: f"Kafka did not acknowledge within {self.timeout:g}s"}
        except (KafkaError, OSError) as exc:
            failed = {_ALL: f"Kafka error: {exc!r}"}
        except BaseException as exc:  # cancelled (shutdown) or a bug: no caller waits forever
            for w in group:
                if not w.future.done():
                    w.future.set_exception(KafkaUnavailable(f"the send was interrupted: {exc!r}"))
            raise
        start = 0
        for w in group:
            mine = wheres[start:start + len(w.records)]
            start += len(w.records)
            if w.future.done():  # its caller was cancelled
                continue
            reason = failed.get(_ALL) or next((failed[x] for x in mine if x in failed), None)
            if reason is None:
                w.future.set_result(None)
            else:
                w.future.set_exception(KafkaUnavailable(reason))

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
