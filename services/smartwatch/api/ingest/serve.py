"""Answering one ingest request: load shedding, authentication, the error answers, and the
rest of an unread body drained before an early answer."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from fastapi import HTTPException
from starlette.types import Receive, Scope, Send

from smartwatch.api.deps import AppState, device_identity
from smartwatch.api.drain import drain
from smartwatch.api.ingest.body import Body
from smartwatch.api.ingest.parse import (
    JSON_TYPES,
    LOOSE_TYPES,
    NDJSON_TYPES,
    BodyError,
    media_type,
    split_body,
)
from smartwatch.api.ingest.paths import one_event, process, stream_lines
from smartwatch.api.producer import KafkaUnavailable

log = logging.getLogger(__name__)

#: How much of an unread body is read and dropped before an early answer, in body limits.
DRAIN_FACTOR = 4
#: Retry-After of a request shed for load: the bound frees up within a request's time.
SHED_RETRY_AFTER = "1"
#: The path of each endpoint, and its name in metrics and dead letters.
ENDPOINTS = {"/v1/events": "events", "/stream": "stream"}
JSON_HEADER = (b"content-type", b"application/json")
ONE_ACCEPTED = orjson.dumps({"accepted": 1, "rejected": 0, "errors": []})


class Answer(Exception):
    """An answer other than the accepted-and-rejected count (an error)."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.payload = orjson.dumps({"detail": detail})
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1"))
                        for k, v in (headers or {}).items()]


async def serve(state: AppState, endpoint: str, scope: Scope, receive: Receive,
                send: Send) -> None:
    """Answer one ingest request. Load is shed (429) before a body is read, so memory stays
    bounded by SMARTWATCH_MAX_IN_FLIGHT times the body limit. An answer given before the
    body was read whole first reads and drops the rest, up to a bound (as
    smartwatch.api.drain does for the other routes)."""
    t0 = time.perf_counter()
    body = Body(receive)
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
        except Answer as answer:
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
                body: Body) -> tuple[int, list[dict[str, Any]]]:
    """(accepted, errors) of the request; raises Answer for an error answer."""
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
            return await stream_lines(state, body, kind, device)
        raw = await body.read(s.max_body_bytes, declared)
        if raw[:1] == b"{" and (media in JSON_TYPES or (endpoint == "stream"
                                                        and media in LOOSE_TYPES)):
            done = await one_event(state, raw, device, endpoint)
            if done:
                return 1, []
        items = split_body(raw, kind, allow_missing_type=endpoint == "stream",
                           max_events=s.max_batch_events)
        return await process(state, items, device, endpoint)
    except BodyError as exc:
        raise Answer(exc.status, exc.reason) from None
    except HTTPException as exc:  # auth
        raise Answer(exc.status_code, exc.detail, dict(exc.headers or {})) from None
    except KafkaUnavailable as exc:
        state.metrics.kafka_unavailable.inc()
        raise Answer(503, f"{exc}; nothing of this request was accepted, send it again",
                      {"Retry-After": str(s.retry_after_seconds)}) from None
    except OSError as exc:  # the registry's Postgres, most likely
        raise Answer(503, f"a backing service is unavailable: {exc}",
                      {"Retry-After": str(s.retry_after_seconds)}) from None
