"""POST /v1/events and POST /stream against the running API and the real broker: what comes
back from the topic is compared field by field with hand-written expectations."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.integration.api.helpers import device_client, new_device
from tests.kafka_reader import TopicReader

pytestmark = pytest.mark.integration


def _read(api, since, device, count):
    reader = TopicReader(api["bootstrap"], api["events_topic"])
    records = [r for r in reader.records(since, count) if r.key == device.encode()]
    return [json.loads(r.value) for r in records]


def _strip(events):
    """Events by event_id, without received_at (checked on its own)."""
    return {e["event_id"]: {k: v for k, v in e.items() if k != "received_at"} for e in events}


def test_all_three_shapes_in_one_json_batch(api) -> None:
    device, token = new_device(api, owner_zone="Europe/Paris")
    reader = TopicReader(api["bootstrap"], api["events_topic"])
    since = reader.mark()
    body = [
        {"event_id": "e-offset", "device_id": device, "measured_at": "2026-07-01T10:00:00+02:00",
         "heart_rate_bpm": 72, "steps": 5, "sleep_state": "Awake", "unknown_field": [1, 2]},
        {"event_id": "e-naive", "device_id": device, "measured_at": "2026-07-01 23:30:00",
         "heart_rate_bpm": 61.5},
        {"event_id": "e-gap", "device_id": device, "measured_at": "2026-03-29T02:30:00",
         "steps": 12},
        {"event_id": "e-fold", "device_id": device, "measured_at": "2026-10-25T02:30:00",
         "steps": 13},
        {"event_id": "e-legacy-a", "device_id": device, "hr": 55, "steps": 0, "state": "sleeping",
         "timestamp": 1782864000.5},
        {"event_id": "e-legacy-b", "Device ID": device, "Heart Rate": 48, "Step Count": 0,
         "Sleeping State": "REM", "date": "2026-01-15 03:10:00.250"},
    ]
    before = dt.datetime.now(dt.UTC)
    with device_client(api, token) as client:
        r = client.post("/v1/events", json=body)
    after = dt.datetime.now(dt.UTC)
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 6, "rejected": 0, "errors": []}

    def ev(event_id, measured_at, source, zone, hr=None, steps=None, sleep=None):
        return {"schema_version": 1, "event_id": event_id, "device_id": device,
                "measured_at": measured_at, "heart_rate_bpm": hr, "steps": steps,
                "sleep_state": sleep, "time_source": source, "time_zone": zone}

    expected = {
        "e-offset": ev("e-offset", "2026-07-01T08:00:00+00:00", "offset", None, 72.0, 5, "awake"),
        "e-naive": ev("e-naive", "2026-07-01T21:30:00+00:00", "owner_zone", "Europe/Paris", 61.5),
        # 02:30 does not exist that night in Paris: read with the offset before the change.
        "e-gap": ev("e-gap", "2026-03-29T01:30:00+00:00", "owner_zone", "Europe/Paris", steps=12),
        # 02:30 happens twice: the first occurrence (still summer time).
        "e-fold": ev("e-fold", "2026-10-25T00:30:00+00:00", "owner_zone", "Europe/Paris", steps=13),
        "e-legacy-a": ev("e-legacy-a", "2026-07-01T00:00:00.500000+00:00", "epoch", None, 55.0, 0,
                         "asleep"),
        "e-legacy-b": ev("e-legacy-b", "2026-01-15T02:10:00.250000+00:00", "owner_zone",
                         "Europe/Paris", 48.0, 0, "rem"),
    }
    got = _read(api, since, device, 6)
    assert _strip(got) == expected
    for e in got:
        assert before <= dt.datetime.fromisoformat(e["received_at"]) <= after


def test_ndjson_batch_and_derived_ids(api) -> None:
    device, token = new_device(api)  # no owner: naive times are read as UTC, and say so
    since = TopicReader(api["bootstrap"], api["events_topic"]).mark()
    lines = [
        {"device_id": device, "measured_at": "2026-05-05 12:00:00", "heart_rate_bpm": 80},
        {"device_id": device, "measured_at": "2026-05-05T12:01:00Z", "heart_rate_bpm": 81},
    ]
    body = "\n".join(json.dumps(x) for x in lines) + "\n\n"
    with device_client(api, token) as client:
        r = client.post("/v1/events", content=body,
                        headers={"content-type": "application/x-ndjson"})
        assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
        # The same first reading again (a client's retry) gets the same derived id.
        r2 = client.post("/v1/events", json=[lines[0]])
        assert r2.status_code == 200
    got = _read(api, since, device, 3)
    assert len(got) == 3
    first, second, again = got
    assert (first["measured_at"], first["time_source"], first["time_zone"]) == (
        "2026-05-05T12:00:00+00:00", "utc_no_owner", "UTC")
    assert (second["measured_at"], second["time_source"]) == ("2026-05-05T12:01:00+00:00", "offset")
    assert first["event_id"] == again["event_id"] != second["event_id"]


def test_stream_one_event_per_request(api) -> None:
    device, token = new_device(api, owner_zone="America/New_York")
    since = TopicReader(api["bootstrap"], api["events_topic"]).mark()
    with device_client(api, token) as client:
        # The prototype's client: json.dumps(event) as the body, no JSON content type.
        r = client.post("/stream", content=json.dumps(
            {"device_id": device, "hr": 90, "steps": 20, "state": "awake",
             "timestamp": 1782864000}), headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 200, r.text
        r = client.post("/stream", json={"Device ID": device, "Heart Rate": 50, "Step Count": 0,
                                         "Sleeping State": "deep", "date": "2026-07-01 02:00:00.000"})
        assert r.status_code == 200, r.text
    got = sorted(_read(api, since, device, 2), key=lambda e: e["measured_at"])
    assert [(e["measured_at"], e["heart_rate_bpm"], e["sleep_state"]) for e in got] == [
        ("2026-07-01T00:00:00+00:00", 90.0, "awake"),
        ("2026-07-01T06:00:00+00:00", 50.0, "deep"),  # 02:00 EDT
    ]


def test_stream_ndjson_in_a_streamed_body(api) -> None:
    device, token = new_device(api)
    since = TopicReader(api["bootstrap"], api["events_topic"]).mark()
    n = 2500

    def chunks():
        for i in range(n):
            line = json.dumps({"device_id": device, "steps": i, "timestamp": 1782864000 + i})
            yield (line + "\n").encode()

    with device_client(api, token) as client:
        r = client.post("/stream", content=chunks(),
                        headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == n
    got = _read(api, since, device, n)
    assert sorted(e["steps"] for e in got) == list(range(n))


def test_many_concurrent_first_requests(api) -> None:
    """More concurrent requests with cold caches than the registry has connections: each
    waits for a connection, none fails."""
    import asyncio

    import httpx

    devices = [new_device(api) for _ in range(24)]

    async def one(client: httpx.AsyncClient, device: str, token: str) -> int:
        r = await client.post("/v1/events", headers={"Authorization": f"Bearer {token}"},
                              json=[{"device_id": device, "steps": 1,
                                     "measured_at": "2026-06-01T00:00:00Z"}])
        return r.status_code

    async def run() -> list[int]:
        async with httpx.AsyncClient(base_url=api["url"], timeout=60) as client:
            return await asyncio.gather(*(one(client, d, t) for d, t in devices))

    assert asyncio.run(run()) == [200] * len(devices)


def test_each_device_in_the_partition_of_its_key_in_order(api) -> None:
    """Batches interleaving many devices: each device's events end in one partition, the one
    Kafka's default partitioner (murmur2 of the key) picks, in the order they were sent."""
    from aiokafka.partitioner import DefaultPartitioner

    devices = [new_device(api) for _ in range(12)]
    reader = TopicReader(api["bootstrap"], api["events_topic"])
    since = reader.mark()
    partitions = sorted(since)
    sent: dict[str, list[str]] = {}
    for round_ in range(3):
        for device, token in devices:
            events = [{"event_id": f"{device}-{round_}-{i}", "device_id": device,
                       "steps": i, "measured_at": f"2026-06-01T00:{i:02d}:00Z"}
                      for i in range(40)]
            sent.setdefault(device, []).extend(e["event_id"] for e in events)
            with device_client(api, token) as client:
                r = client.post("/v1/events", json=events)
                assert r.status_code == 200, r.text
    records = reader.records(since, sum(len(ids) for ids in sent.values()))
    mine = {d for d, _ in devices}
    got: dict[str, list[tuple[int, str]]] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        if r.key.decode() in mine:
            got.setdefault(r.key.decode(), []).append((r.partition, json.loads(r.value)["event_id"]))
    for device, ids in sent.items():
        expected = DefaultPartitioner()(device.encode(), partitions, partitions)
        assert got[device] == [(expected, i) for i in ids]
