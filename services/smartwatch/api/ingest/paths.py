"""The ways a body's events reach Kafka: one event of a known device (the fast path), a batch
(the general path, with the same rules), and a streamed /stream body in batches as its lines
arrive."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import orjson
from fastapi.concurrency import run_in_threadpool

from smartwatch.api.deps import AppState
from smartwatch.api.ingest.body import Body
from smartwatch.api.ingest.parse import BodyError, Item, device_ids, split_body, validate
from smartwatch.api.ingest.parse import dead_letter as dead_letter_record
from smartwatch.events import EventRejected, rename, to_canonical


async def one_event(state: AppState, raw: bytes, device: str | None, endpoint: str) -> bool:
    """A body of one valid event of the token's device whose owner's zone is cached (what a
    watch sends one reading a request): produced, True. Anything else, False, and nothing
    produced: the general path (`process`) then answers it, with the same rules."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(value, dict):
        return False
    named = rename(value).get("device_id")
    if type(named) is not str or (device is not None and named != device):
        return False
    found, zone = state.registry.cached_zone(named)
    if not found:
        return False
    s = state.settings
    try:
        event = to_canonical(value, lambda _: zone, received_at=dt.datetime.now(dt.UTC),
                             max_past=state.max_past, max_future=state.max_future)
    except EventRejected:
        return False
    await produce(state, [(s.events_topic, named.encode(), event.to_json())], endpoint, 1)
    return True


async def produce(state: AppState, records: list[tuple[str, bytes | None, bytes]],
                   endpoint: str, accepted: int) -> None:
    """Hand the records to Kafka (KafkaUnavailable unless acknowledged), timed; count the
    accepted events."""
    t0 = time.perf_counter()
    await state.producer.send_all(records)
    state.metrics.produce.observe(time.perf_counter() - t0)
    state.metrics.accepted_by[endpoint].inc(accepted)


async def stream_lines(state: AppState, body: Body, kind: str | None,
                        device: str | None) -> tuple[int, list[dict[str, Any]]]:
    """NDJSON lines of a streamed /stream body, handled in batches as they arrive."""
    s = state.settings
    accepted, errors, offset = 0, [], 0
    pending = b""
    buffered: list[bytes] = []

    async def flush(lines: list[bytes]) -> None:
        nonlocal accepted, offset
        items = split_body(b"\n".join(lines), kind, allow_missing_type=True,
                           max_events=s.max_batch_events)
        for item in items:
            item.index += offset
        n, errs = await process(state, items, device, "stream")
        accepted += n
        errors.extend(errs)
        offset += len(items)

    async for chunk in body.chunks():
        pending += chunk
        if len(pending) > s.max_body_bytes and b"\n" not in pending:
            raise BodyError(413, f"a line exceeds the limit of {s.max_body_bytes} bytes")
        *complete, pending = pending.split(b"\n")
        buffered.extend(line for line in complete if line.strip())
        while len(buffered) >= s.max_batch_events:
            await flush(buffered[: s.max_batch_events])
            buffered = buffered[s.max_batch_events:]
    if pending.strip():
        buffered.append(pending)
    if buffered:
        await flush(buffered)
    if offset == 0:
        raise BodyError(400, "the body holds no events")
    return accepted, errors


async def process(state: AppState, items: list[Item], device: str | None,
                   endpoint: str) -> tuple[int, list[dict[str, Any]]]:
    """Validate, then produce accepted events and dead letters; returns (accepted, errors).
    Raises BodyError (403) for another device's events, KafkaUnavailable."""
    s = state.settings
    named = device_ids(items)
    if device is not None:
        foreign = next((i for i, d in named.items() if d != device), None)
        if foreign is not None:
            raise BodyError(403, f"event {foreign} is for device {named[foreign]!r}; this token "
                                 f"may send only device {device!r}'s events")
    zones = state.registry.cached_zones(named.values())
    if zones is None:
        zones = await run_in_threadpool(state.registry.owner_zones, named.values())
    received_at = dt.datetime.now(dt.UTC)
    outcome = validate(items, zones, received_at=received_at, max_past=state.max_past,
                       max_future=state.max_future)
    records: list[tuple[str, bytes | None, bytes]] = [
        (s.events_topic, e.device_id.encode(), e.to_json()) for e in outcome.accepted]
    errors: list[dict[str, Any]] = []
    for item, errs in outcome.rejected:
        key = named.get(item.index)
        records.append((s.dead_letter_topic, key.encode() if key else None,
                        dead_letter_record(item, errs, endpoint=endpoint, received_at=received_at)))
        errors.extend({"index": item.index, **e} for e in errs)
    await produce(state, records, endpoint, len(outcome.accepted))
    for _, errs in outcome.rejected:
        state.metrics.rejected.labels(endpoint, errs[0]["field"]).inc()
    if outcome.rejected:
        state.metrics.dead_lettered.labels(endpoint).inc(len(outcome.rejected))
    return len(outcome.accepted), errors
