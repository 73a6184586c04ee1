"""A reading's identity in one request body is (device_id, event_id): watches number their
readings 1, 2, 3, ..., so two devices' id 1 are two readings, and one device's id 1 twice is a
resent copy (ingest.validate)."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from smartwatch.api.ingest.parse import Item, validate

pytestmark = pytest.mark.unit

NOW = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)


def _items(*events: dict) -> list[Item]:
    return [Item(index=i, source=orjson.dumps(e), value=e) for i, e in enumerate(events)]


def _event(device: str, event_id: str, minute: int) -> dict:
    return {"event_id": event_id, "device_id": device, "heart_rate_bpm": 60 + minute,
            "measured_at": f"2026-12-07T10:{minute:02d}:00+00:00"}


def _validate(items: list[Item]):
    return validate(items, {"watch-a": "Europe/Berlin", "watch-b": "Asia/Tokyo"}, received_at=NOW,
                    max_past=dt.timedelta(days=30), max_future=dt.timedelta(minutes=5))


def test_two_devices_may_both_send_id_1() -> None:
    out = _validate(_items(_event("watch-a", "1", 0), _event("watch-b", "1", 1),
                           _event("watch-a", "2", 2), _event("watch-b", "2", 3)))
    assert out.rejected == []
    assert [(e.device_id, e.event_id) for e in out.accepted] == [
        ("watch-a", "1"), ("watch-b", "1"), ("watch-a", "2"), ("watch-b", "2")]


def test_one_device_sending_an_id_twice_is_a_duplicate_named_by_its_first_index() -> None:
    out = _validate(_items(_event("watch-a", "1", 0), _event("watch-b", "1", 1),
                           _event("watch-a", "1", 2)))
    assert [(e.device_id, e.event_id) for e in out.accepted] == [("watch-a", "1"), ("watch-b", "1")]
    ((item, errors),) = out.rejected
    assert item.index == 2
    assert errors == [{"field": "event_id", "reason": "duplicate of the event at index 0 in this "
                                                       "request (same device_id and event_id)"}]
