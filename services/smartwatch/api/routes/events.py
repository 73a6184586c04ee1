"""POST /v1/events (a JSON array or NDJSON batch) and POST /stream (the prototype's wire
format: one JSON event a request, or NDJSON lines in a streamed body), as FastAPI routes: they
document the endpoints in OpenAPI and, when a request reaches FastAPI's router (an app without
the fast path), hand it to `smartwatch.api.ingest.serve`, which serves them (docs in
`smartwatch.api.ingest`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from smartwatch.api.deps import AppState, get_state
from smartwatch.api.ingest.serve import serve

router = APIRouter()

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


class Served(Response):
    """What a route returns: the request, answered by `serve` (which writes the response)."""

    def __init__(self, state: AppState, endpoint: str) -> None:
        super().__init__()
        self.state = state
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await serve(self.state, self.endpoint, scope, receive, send)


@router.post("/v1/events", responses=RESPONSES, summary="Send a batch of readings",
             openapi_extra=AUTH_DOC)
async def post_events(request: Request) -> Served:
    """A JSON array of events (`application/json`) or one event a line
    (`application/x-ndjson`), in the canonical shape or either legacy shape. The answer lists
    each rejected event by index with the field and reason; rejected events also go to the
    dead-letter topic. 200 when at least one event was accepted, 422 when none was."""
    return Served(await get_state(request), "events")


@router.post("/stream", responses=RESPONSES, summary="The prototype's wire format",
             openapi_extra=AUTH_DOC)
async def post_stream(request: Request) -> Served:
    """One JSON event as the body, or NDJSON lines in a streamed body (any length: lines are
    handled in batches as they arrive). A missing content type is read as JSON or NDJSON by
    its first character. The answer counts all lines of the stream."""
    return Served(await get_state(request), "stream")
