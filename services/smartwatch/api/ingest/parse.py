"""Turning a request body into canonical events and rejections: pure logic, no I/O."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from smartwatch.events import AcceptedEvent, EventRejected, rename, to_canonical

JSON_TYPES = {"application/json"}
# Types that clients of the prototype sent JSON with (requests' data=, curl -d): /stream reads
# such a body as JSON or NDJSON by its content.
LOOSE_TYPES = {"", "text/plain", "application/x-www-form-urlencoded", "application/octet-stream"}
NDJSON_TYPES = {"application/x-ndjson", "application/jsonl", "application/json-seq",
                "application/ndjson", "application/jsonlines"}


class BodyError(Exception):
    """The body as a whole is unusable: `status` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(slots=True)
class Item:
    """One event of the body: its decoded value (or None) and its raw bytes. The raw text is
    made only for a rejected event (the dead letter keeps it)."""

    index: int
    source: bytes
    value: Any = None
    error: dict[str, str] | None = None

    @property
    def raw(self) -> str:
        return self.source.decode("utf-8", errors="replace")


@dataclass
class Outcome:
    accepted: list[AcceptedEvent] = field(default_factory=list)
    rejected: list[tuple[Item, list[dict[str, str]]]] = field(default_factory=list)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def split_body(body: bytes, content_type: str | None, *, allow_missing_type: bool = False,
               max_events: int) -> list[Item]:
    """Decode a JSON body (an array, or a single object) or an NDJSON body (one JSON value a
    line; blank lines skipped). An NDJSON line that is not JSON is an item with an error, so
    the other lines still count; a JSON body that does not parse is a BodyError (400)."""
    kind = media_type(content_type)
    if allow_missing_type and kind in LOOSE_TYPES:
        try:
            orjson.loads(body)
            kind = "application/json"
        except orjson.JSONDecodeError:
            kind = "application/x-ndjson"
    if kind in JSON_TYPES:
        items = _split_json(body)
    elif kind in NDJSON_TYPES:
        items = _split_ndjson(body)
    else:
        shown = kind or "none"
        raise BodyError(415, f"content type {shown} is not accepted; send application/json "
                             "(an array of events) or application/x-ndjson (one event a line)")
    if len(items) > max_events:
        raise BodyError(413, f"the body holds {len(items)} events; the limit is {max_events} "
                             "a request")
    if not items:
        raise BodyError(400, "the body holds no events")
    return items


def _split_json(body: bytes) -> list[Item]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as uni:
            raise BodyError(400, f"the body is not valid UTF-8 (byte {uni.start})") from None
        raise BodyError(400, f"the body is not valid JSON: {exc}") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise BodyError(400, "a JSON body is an array of event objects (or one object)")
    return [_JsonItem(i, b"", v) for i, v in enumerate(value)]


class _JsonItem(Item):
    """An element of a JSON array: its raw text is its value written back as JSON."""

    __slots__ = ()

    @property
    def raw(self) -> str:
        return orjson.dumps(self.value).decode()


def _split_ndjson(body: bytes) -> list[Item]:
    items: list[Item] = []
    for line in body.split(b"\n"):
        line = line.strip()
        if not line:
            continue
        index = len(items)
        try:
            items.append(Item(index, line, orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            try:
                line.decode("utf-8")
                reason = f"line is not valid JSON: {exc}"
            except UnicodeDecodeError as uni:
                reason = f"line is not valid UTF-8 (byte {uni.start})"
            items.append(Item(index, line, error={"field": "event", "reason": reason}))
    return items


def device_ids(items: list[Item]) -> dict[int, str]:
    """index -> device id named by each decodable event object (in any shape)."""
    out = {}
    for item in items:
        if isinstance(item.value, dict):
            device = rename(item.value).get("device_id")
            if isinstance(device, str | int) and not isinstance(device, bool):
                out[item.index] = str(device)
    return out


def validate(items: list[Item], zones: Mapping[str, str | None], *, received_at: dt.datetime,
             max_past: dt.timedelta, max_future: dt.timedelta) -> Outcome:
    """Canonical events for the valid items; the rest with their errors. The second event
    of a device with an event_id already in this body for that device is rejected as a
    duplicate (ids are the device's own: two devices may both send id 1)."""
    outcome = Outcome()
    first_index: dict[tuple[str, str], int] = {}
    lookup: Callable[[str], str | None] = zones.get
    for item in items:
        if item.error:
            outcome.rejected.append((item, [item.error]))
            continue
        try:
            event = to_canonical(item.value, lookup, received_at=received_at,
                                 max_past=max_past, max_future=max_future)
        except EventRejected as exc:
            outcome.rejected.append((item, exc.errors))
            continue
        identity = (event.device_id, event.event_id)
        if identity in first_index:
            outcome.rejected.append((item, [{
                "field": "event_id",
                "reason": f"duplicate of the event at index {first_index[identity]} "
                          "in this request (same device_id and event_id)"}]))
            continue
        first_index[identity] = item.index
        outcome.accepted.append(event)
    return outcome


def dead_letter(item: Item, errors: list[dict[str, str]], *, endpoint: str,
                received_at: dt.datetime) -> bytes:
    return orjson.dumps({"raw": item.raw, "index": item.index, "errors": errors,
                         "endpoint": endpoint, "received_at": received_at.isoformat()})
