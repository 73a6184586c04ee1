"""The landing's lag: per Kafka partition, the records not landed yet and the age of the
oldest of them.

What the landing has landed is its committed offset per partition, which it writes to
Postgres (`landing_progress`) in the same transaction as the batch's row counts, after the
batch's files are in the lake. The lag is the topic's end offset against it. Records that
Kafka deleted (retention) before the landing read them are reported as lost: the topic's
first offset is past the committed one.

Used by the landing (its metrics) and by `smartwatch audit`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    first_offset: int        # the first record Kafka still holds
    end_offset: int          # one past the last record
    landed_offset: int | None  # the landing's committed offset; None: it landed nothing here
    oldest_age_seconds: float | None  # age of the first record not landed; None: none

    @property
    def behind(self) -> int:
        """Records in Kafka that the landing has not landed."""
        return self.end_offset - max(self.first_offset, self.landed_offset or 0)

    @property
    def lost(self) -> int:
        """Records Kafka deleted before the landing landed them (retention)."""
        return max(0, self.first_offset - (self.landed_offset or 0))

    def as_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "behind": self.behind, "lost": self.lost}


def landed_offsets(conn, topic: str, landing_id: str | None = None) -> dict[int, int]:
    """The committed offset per partition of `topic` of landing `landing_id`, by default of
    its most recent landing (the one with the latest batch: a landing given a new checkpoint
    is the one that runs now)."""
    with conn.cursor() as cur:
        cur.execute("""
            SELECT kafka_partition, next_offset FROM landing_progress
            WHERE topic = %s AND landing_id = coalesce(%s, (
              SELECT landing_id FROM landing_progress WHERE topic = %s
              ORDER BY landed_at DESC, batch_id DESC LIMIT 1))""", (topic, landing_id, topic))
        return {int(p): int(o) for p, o in cur.fetchall()}


def measure(bootstrap: str, topic: str, landed: Mapping[int, int],
            client_options: Mapping[str, Any] | None = None,
            now: dt.datetime | None = None, timeout_seconds: float = 10) -> list[PartitionLag]:
    """Each partition's lag against `landed` (partition -> committed offset). Raises
    LagError if Kafka cannot be reached or has no such topic."""
    return asyncio.run(_measure(bootstrap, topic, dict(landed), dict(client_options or {}),
                                now, timeout_seconds))


class LagError(RuntimeError):
    pass


async def _measure(bootstrap: str, topic: str, landed: dict[int, int],
                   options: dict[str, Any], now: dt.datetime | None,
                   timeout: float) -> list[PartitionLag]:
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.errors import KafkaError

    await _check_topic(bootstrap, topic, options, timeout)
    # Subscribed (no group: every partition is this consumer's), so that starting loads the
    # topic's partitions, and one record of a partition can be read at an offset. (Assigning
    # partitions by hand after unsubscribing left aiokafka's stop() waiting for ever.)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, enable_auto_commit=False,
                                request_timeout_ms=int(timeout * 1000), **options)
    try:
        await asyncio.wait_for(consumer.start(), timeout)
    except (KafkaError, OSError, TimeoutError) as exc:
        await consumer.stop()
        raise LagError(f"Kafka at {bootstrap}: {type(exc).__name__}: {exc}") from exc
    try:
        numbers = consumer.partitions_for_topic(topic)
        if not numbers:
            raise LagError(f"Kafka at {bootstrap} has no topic {topic!r}")
        parts = [TopicPartition(topic, p) for p in sorted(numbers)]
        firsts = await asyncio.wait_for(consumer.beginning_offsets(parts), timeout)
        ends = await asyncio.wait_for(consumer.end_offsets(parts), timeout)
        out = []
        for tp in parts:
            first, end, done = firsts[tp], ends[tp], landed.get(tp.partition)
            oldest = None
            if end > max(first, done or 0):
                oldest = await _age(consumer, tp, max(first, done or 0), now, timeout)
            out.append(PartitionLag(topic, tp.partition, first, end, done, oldest))
        return out
    except (KafkaError, TimeoutError) as exc:
        raise LagError(f"Kafka at {bootstrap}: {type(exc).__name__}: {exc}") from exc
    finally:
        await consumer.stop()


async def _check_topic(bootstrap: str, topic: str, options: dict[str, Any],
                       timeout: float) -> None:
    """LagError unless Kafka answers and has `topic` (a consumer subscribed to a topic that
    does not exist waits for it)."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import KafkaError

    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000),
                             **options)
    try:
        await asyncio.wait_for(probe.start(), timeout)
        topics = await asyncio.wait_for(probe.topics(), timeout)
    except (KafkaError, OSError, TimeoutError) as exc:
        raise LagError(f"Kafka at {bootstrap} could not be reached: "
                       f"{type(exc).__name__}: {exc}") from exc
    finally:
        await probe.stop()
    if topic not in topics:
        raise LagError(f"Kafka at {bootstrap} has no topic {topic!r}")


async def _age(consumer, tp, offset: int, now: dt.datetime | None,
               timeout: float) -> float | None:
    """Seconds since the Kafka timestamp of the record at `offset` (None if none came back
    in time, e.g. a compacted-away offset)."""
    consumer.seek(tp, offset)
    batch = await consumer.getmany(tp, timeout_ms=int(timeout * 1000), max_records=1)
    records = batch.get(tp) or []
    if not records:
        return None
    at = (now or dt.datetime.now(dt.UTC)).timestamp() * 1000
    return max(0.0, (at - records[0].timestamp) / 1000)
