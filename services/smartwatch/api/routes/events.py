"""POST /v1/events (a JSON array or NDJSON batch) and POST /stream (the prototype's wire
format: one JSON event a request, or NDJSON lines in a streamed body)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import orjson
from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from smartwatch.api.deps import AppState, device_identity, get_state
from smartwatch.api.ingest import (
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

router = APIRouter()

AUTH_DOC: dict[str, Any] = {"security": [{"deviceToken": []}]}
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body cannot be parsed at all"},
    401: {"description": "Missing, unknown or revoked device token"},
    403: {"description": "An event names another device than the token's"},
    413: {"description": "Body larger than the byte limit, or more events than the limit"},
    415: {"description": "Content type other than JSON or NDJSON"},
    422: {"description": "No event of the body was valid (each is listed)"},
    503: {"description": "Kafka did not acknowledge in time; retry after Retry-After seconds. "
                         "Nothing of the request counts as accepted."},
}


def _error(status: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": reason}, status_code=status, headers=headers)


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyError(413, f"the body has {declared} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(413, f"the body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


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
    outcome = validate(items, zones, received_at=received_at,
                       max_past=dt.timedelta(days=s.max_past_days),
                       max_future=dt.timedelta(hours=s.max_future_hours))
    records: list[tuple[str, bytes | None, bytes]] = [
        (s.events_topic, e.device_id.encode(), e.to_json()) for e in outcome.accepted]
    errors: list[dict[str, Any]] = []
    for item, errs in outcome.rejected:
        key = named.get(item.index)
        records.append((s.dead_letter_topic, key.encode() if key else None,
                        dead_letter_record(item, errs, endpoint=endpoint, received_at=received_at)))
        errors.extend({"index": item.index, **e} for e in errs)
    t0 = time.perf_counter()
    await state.producer.send_all(records)
    state.metrics.produce.observe(time.perf_counter() - t0)
    state.metrics.accepted_by[endpoint].inc(len(outcome.accepted))
    for _, errs in outcome.rejected:
        state.metrics.rejected.labels(endpoint, errs[0]["field"]).inc()
    if outcome.rejected:
        state.metrics.dead_lettered.labels(endpoint).inc(len(outcome.rejected))
    return len(outcome.accepted), errors


#: Retry-After of a request shed for load: the bound frees up within a request's time.
SHED_RETRY_AFTER = "1"


async def _answer(state: AppState, endpoint: str, work) -> Response:
    """`work`'s answer, or 429 when the worker already handles its bound of requests: load is
    shed before a body is read, so memory stays bounded by the bound times the body limit."""
    t0 = time.perf_counter()
    bound = state.settings.max_in_flight
    if state.in_flight >= bound:
        state.metrics.shed.inc()
        response: Response = _error(
            429, f"the API is handling its bound of {bound} requests; nothing of this request "
                 "was accepted, send it again", {"Retry-After": SHED_RETRY_AFTER})
        state.metrics.requests.labels(endpoint, "429").observe(time.perf_counter() - t0)
        return response
    state.in_flight += 1
    try:
        return await _answer_within_bound(state, endpoint, work, t0)
    finally:
        state.in_flight -= 1


async def _answer_within_bound(state: AppState, endpoint: str, work, t0: float) -> Response:
    try:
        accepted, errors = await work()
        status = 422 if accepted == 0 and errors else 200
        response = Response(
            orjson.dumps({"accepted": accepted, "rejected": len({e["index"] for e in errors}),
                          "errors": errors}),
            status_code=status, media_type="application/json")
    except BodyError as exc:
        response = _error(exc.status, exc.reason)
    except HTTPException as exc:  # auth: answered here, not by the router's handler
        response = _error(exc.status_code, exc.detail, dict(exc.headers or {}))
    except KafkaUnavailable as exc:
        state.metrics.kafka_unavailable.inc()
        response = _error(503, f"{exc}; nothing of this request was accepted, send it again",
                          {"Retry-After": str(state.settings.retry_after_seconds)})
    except OSError as exc:  # the registry's Postgres, most likely
        response = _error(503, f"a backing service is unavailable: {exc}",
                          {"Retry-After": str(state.settings.retry_after_seconds)})
    state.metrics.requests.labels(endpoint, str(response.status_code)).observe(
        time.perf_counter() - t0)
    return response


# The two hot routes take only the request: FastAPI's dependency resolution costs more per
# request than the rest of a one-event request.
@router.post("/v1/events", responses=RESPONSES, summary="Send a batch of readings",
             openapi_extra=AUTH_DOC)
async def post_events(request: Request) -> Response:
    """A JSON array of events (`application/json`) or one event a line
    (`application/x-ndjson`), in the canonical shape or either legacy shape. The answer lists
    each rejected event by index with the field and reason; rejected events also go to the
    dead-letter topic. 200 when at least one event was accepted, 422 when none was."""
    state = await get_state(request)
    s = state.settings

    async def work() -> tuple[int, list[dict[str, Any]]]:
        device = await device_identity(request, state)
        body = await _read_limited(request, s.max_body_bytes)
        items = split_body(body, request.headers.get("content-type"),
                           max_events=s.max_batch_events)
        return await _process(state, items, device, "events")

    return await _answer(state, "events", work)


@router.post("/stream", responses=RESPONSES, summary="The prototype's wire format",
             openapi_extra=AUTH_DOC)
async def post_stream(request: Request) -> Response:
    """One JSON event as the body, or NDJSON lines in a streamed body (any length: lines are
    handled in batches as they arrive). A missing content type is read as JSON or NDJSON by
    its first character. The answer counts all lines of the stream."""
    state = await get_state(request)
    s = state.settings
    kind = request.headers.get("content-type")
    if media_type(kind) not in NDJSON_TYPES:  # one event (or a JSON array) as the body
        async def whole() -> tuple[int, list[dict[str, Any]]]:
            device = await device_identity(request, state)
            body = await _read_limited(request, s.max_body_bytes)
            items = split_body(body, kind, allow_missing_type=True, max_events=s.max_batch_events)
            return await _process(state, items, device, "stream")

        return await _answer(state, "stream", whole)

    async def work() -> tuple[int, list[dict[str, Any]]]:
        device = await device_identity(request, state)
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

        async for chunk in request.stream():
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

    return await _answer(state, "stream", work)


class IngestFastPath:
    """Middleware that serves POST /v1/events and POST /stream without going through the
    router: FastAPI's routing and dependency solving cost more than a one-event request's own
    work. The FastAPI routes above are the same handlers: they document the endpoints in
    OpenAPI and serve them when the middleware is not installed. Installed by the app
    factory, inside Starlette's error middleware (an unexpected error still answers 500)."""

    ROUTES: ClassVar[dict[str, Callable[[Request], Awaitable[Response]]]] = {
        "/v1/events": post_events, "/stream": post_stream}

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self.ROUTES.get(scope["path"]) if scope["type"] == "http" else None
        if handler is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        response = await handler(Request(scope, receive))
        await response(scope, receive, send)
