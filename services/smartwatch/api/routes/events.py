"""POST /v1/events (a JSON array or NDJSON batch) and POST /stream (the prototype's wire
format: one JSON event a request, or NDJSON lines in a streamed body).

Both are served as plain ASGI by `serve`, which the app calls ahead of FastAPI (see
`smartwatch.api.main.IngestApp`): FastAPI's and Starlette's request path (routing, dependency
solving, middlewares, the Request and Response objects) cost more than a one-event request's
own work. The FastAPI routes below document the endpoints in OpenAPI and hand the request to
the same `serve` when the router is reached (an app without the fast path).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from smartwatch.api.deps import AppState, device_identity, get_state
from smartwatch.api.drain import drain, last_of_body
from smartwatch.api.ingest import (
    JSON_TYPES,
    LOOSE_TYPES,
    NDJSON_TYPES,
    BodyError,
    Item,
    device_ids,
    media_type,
    split_body,
    validate,
)
from smartwatch.api.ingest import dead_letter as dead_letter_record
from smartwatch.api.producer import KafkaUnavailable
from smartwatch.events import EventRejected, rename, to_canonical

log = logging.getLogger(__name__)
router = APIRouter()

#: How much of an unread body is read and dropped before an early answer, in body limits.
DRAIN_FACTOR = 4
#: Retry-After of a request shed for load: the bound frees up within a request's time.
SHED_RETRY_AFTER = "1"
#: The path of each endpoint, and its name in metrics and dead letters.
ENDPOINTS = {"/v1/events": "events", "/stream": "stream"}

AUTH_DOC: dict[str, Any] = {"security": [{"deviceToken": []}]}
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body cannot be parsed at all"},
    401: {"description": "Missing, unknown or revoked device token"},
    403: {"description": "An event names another device than the token's"},
    413: {"description": "Body larger than the byte limit, or more events than the limit"},
    415: {"description": "Content type other than JSON or NDJSON"},
    422: {"description": "No event of the body was valid (each is listed)"},
    429: {"description": "The API is handling its bound of requests; retry after Retry-After "
                         "seconds. Nothing of the request counts as accepted."},
    503: {"description": "Kafka did not acknowledge in time; retry after Retry-After seconds. "
                         "Nothing of the request counts as accepted."},
}
JSON_HEADER = (b"content-type", b"application/json")
ONE_ACCEPTED = orjson.dumps({"accepted": 1, "rejected": 0, "errors": []})


class _Answer(Exception):
    """An answer other than the accepted-and-rejected count (an error)."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.payload = orjson.dumps({"detail": detail})
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1"))
                        for k, v in (headers or {}).items()]


class _Body:
    """The request body from ASGI messages, and whether its last message was read."""

    __slots__ = ("done", "receive")

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.done = False

    async def chunks(self) -> AsyncIterator[bytes]:
        while not self.done:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self.done = True
                raise BodyError(400, "the client went away before the body ended")
            self.done = last_of_body(message)
            chunk = message.get("body", b"")
            if chunk:
                yield chunk

    async def read(self, limit: int, declared: bytes | None) -> bytes:
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise BodyError(413, f"the body has {declared.decode()} bytes; the limit is {limit}")
        message = await self.receive()  # most bodies come in one message
        if message["type"] != "http.disconnect" and not message.get("more_body", False):
            self.done = True
            body: bytes = message.get("body", b"")
            if len(body) > limit:
                raise BodyError(413, f"the body exceeds the limit of {limit} bytes")
            return body
        if message["type"] == "http.disconnect":
            self.done = True
            raise BodyError(400, "the client went away before the body ended")
        chunks, size = [message.get("body", b"")], len(message.get("body", b""))
        async for chunk in self.chunks():
            size += len(chunk)
            if size > limit:
                raise BodyError(413, f"the body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


async def serve(state: AppState, endpoint: str, scope: Scope, receive: Receive,
                send: Send) -> None:
    """Answer one ingest request. Load is shed (429) before a body is read, so memory stays
    bounded by SMARTWATCH_MAX_IN_FLIGHT times the body limit. An answer given before the
    body was read whole first reads and drops the rest, up to a bound (as
    smartwatch.api.drain does for the other routes)."""
    t0 = time.perf_counter()
    body = _Body(receive)
    headers: list[tuple[bytes, bytes]] = [JSON_HEADER]
    bound = state.settings.max_in_flight
    if state.in_flight >= bound:
        state.metrics.shed.inc()
        status, payload = 429, orjson.dumps({"detail": (
            f"the API is handling its bound of {bound} requests; nothing of this request was "
            "accepted, send it again")})
        headers.append((b"retry-after", SHED_RETRY_AFTER.encode()))
    else:
        state.in_flight += 1
        try:
            accepted, errors = await _work(state, endpoint, scope, body)
            status = 422 if accepted == 0 and errors else 200
            payload = ONE_ACCEPTED if accepted == 1 and not errors else orjson.dumps(
                {"accepted": accepted, "rejected": len({e["index"] for e in errors}),
                 "errors": errors})
        except _Answer as answer:
            status, payload = answer.status, answer.payload
            headers += answer.headers
        except Exception:
            log.exception("an ingest request failed")
            status, payload = 500, orjson.dumps({"detail": "Internal Server Error"})
        finally:
            state.in_flight -= 1
    if not body.done and not await drain(receive, DRAIN_FACTOR * state.settings.max_body_bytes):
        headers.append((b"connection", b"close"))
    headers.append((b"content-length", str(len(payload)).encode()))
    state.metrics.request_seconds(endpoint, status).observe(time.perf_counter() - t0)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _work(state: AppState, endpoint: str, scope: Scope,
                body: _Body) -> tuple[int, list[dict[str, Any]]]:
    """(accepted, errors) of the request; raises _Answer for an error answer."""
    s = state.settings
    authorization = kind = declared = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == b"content-type":
            kind = value.decode("latin-1")
        elif name == b"content-length":
            declared = value
    try:
        device = await device_identity(state, authorization)
        media = media_type(kind)
        if endpoint == "stream" and media in NDJSON_TYPES:
            return await _stream_lines(state, body, kind, device)
        raw = await body.read(s.max_body_bytes, declared)
        if raw[:1] == b"{" and (media in JSON_TYPES or (endpoint == "stream"
                                                        and media in LOOSE_TYPES)):
            done = await _one_event(state, raw, device, endpoint)
            if done:
                return 1, []
        items = split_body(raw, kind, allow_missing_type=endpoint == "stream",
                           max_events=s.max_batch_events)
        return await _process(state, items, device, endpoint)
    except BodyError as exc:
        raise _Answer(exc.status, exc.reason) from None
    except HTTPException as exc:  # auth
        raise _Answer(exc.status_code, exc.detail, dict(exc.headers or {})) from None
    except KafkaUnavailable as exc:
        state.metrics.kafka_unavailable.inc()
        raise _Answer(503, f"{exc}; nothing of this request was accepted, send it again",
                      {"Retry-After": str(s.retry_after_seconds)}) from None
    except OSError as exc:  # the registry's Postgres, most likely
        raise _Answer(503, f"a backing service is unavailable: {exc}",
                      {"Retry-After": str(s.retry_after_seconds)}) from None


async def _one_event(state: AppState, raw: bytes, device: str | None, endpoint: str) -> bool:
    """A body of one valid event of the token's device whose owner's zone is cached (what a
    watch sends one reading a request): produced, True. Anything else, False, and nothing
    produced: the general path (`_process`) then answers it, with the same rules."""
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
    await _produce(state, [(s.events_topic, named.encode(), event.to_json())], endpoint, 1)
    return True


async def _produce(state: AppState, records: list[tuple[str, bytes | None, bytes]],
                   endpoint: str, accepted: int) -> None:
    """Hand the records to Kafka (KafkaUnavailable unless acknowledged), timed; count the
    accepted events."""
    t0 = time.perf_counter()
    await state.producer.send_all(records)
    state.metrics.produce.observe(time.perf_counter() - t0)
    state.metrics.accepted_by[endpoint].inc(accepted)


async def _stream_lines(state: AppState, body: _Body, kind: str | None,
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
        n, errs = await _process(state, items, device, "stream")
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


async def _process(state: AppState, items: list[Item], device: str | None,
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
    await _produce(state, records, endpoint, len(outcome.accepted))
    for _, errs in outcome.rejected:
        state.metrics.rejected.labels(endpoint, errs[0]["field"]).inc()
    if outcome.rejected:
        state.metrics.dead_lettered.labels(endpoint).inc(len(outcome.rejected))
    return len(outcome.accepted), errors


class _Served(Response):
    """What a route returns: the request, answered by `serve`."""

    def __init__(self, state: AppState, endpoint: str) -> None:  # not Response.__init__:
        self.background = None  # this response writes itself
        self.state = state
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await serve(self.state, self.endpoint, scope, receive, send)


@router.post("/v1/events", responses=RESPONSES, summary="Send a batch of readings",
             openapi_extra=AUTH_DOC)
async def post_events(request: Request) -> _Served:
    """A JSON array of events (`application/json`) or one event a line
    (`application/x-ndjson`), in the canonical shape or either legacy shape. The answer lists
    each rejected event by index with the field and reason; rejected events also go to the
    dead-letter topic. 200 when at least one event was accepted, 422 when none was."""
    return _Served(await get_state(request), "events")


@router.post("/stream", responses=RESPONSES, summary="The prototype's wire format",
             openapi_extra=AUTH_DOC)
async def post_stream(request: Request) -> _Served:
    """One JSON event as the body, or NDJSON lines in a streamed body (any length: lines are
    handled in batches as they arrive). A missing content type is read as JSON or NDJSON by
    its first character. The answer counts all lines of the stream."""
    return _Served(await get_state(request), "stream")
