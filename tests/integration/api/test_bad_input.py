"""Bad input against the running API on the real broker: each gets a precise 4xx or a
per-event rejection, the server stays healthy, valid events of the same batch are in Kafka,
and rejected ones are in the dead-letter topic with their raw text and the reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from smartwatch_dev.stack.process import free_port
from tests.integration.api.helpers import admin, device_client, new_device
from tests.kafka_reader import TopicReader

pytestmark = pytest.mark.integration

GOOD_TIME = "2026-06-01T12:00:00Z"


@pytest.fixture
def device(api):
    return new_device(api)


def _post(api, token, body, content_type="application/json"):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    with device_client(api, token) as client:
        r = client.post("/v1/events", content=data, headers={"content-type": content_type})
        assert client.get("/healthz").status_code == 200  # still healthy
    return r


def _mark(api):
    return (TopicReader(api["bootstrap"], api["events_topic"]).mark(),
            TopicReader(api["bootstrap"], api["dead_letter_topic"]).mark())


def _written(api, marks, device, n_events, n_dead):
    events = [json.loads(r.value) for r in
              TopicReader(api["bootstrap"], api["events_topic"]).records(marks[0], n_events,
                                                                         timeout=5 + n_events)
              if r.key == device.encode()]
    dead = [json.loads(r.value) for r in
            TopicReader(api["bootstrap"], api["dead_letter_topic"]).records(marks[1], n_dead,
                                                                            timeout=5 + n_dead)
            if r.key in (device.encode(), None)]
    return events, dead


def _good(device, i=0):
    return {"event_id": f"good-{i}", "device_id": device, "measured_at": GOOD_TIME, "steps": i}


@pytest.mark.parametrize(("bad", "field", "reason"), [
    ({"heart_rate_bpm": "72"}, "heart_rate_bpm", "must be a JSON number, not a string"),
    ({"steps": True}, "steps", "must be a whole JSON number, not a boolean"),
    ({"steps": [1]}, "steps", "must be a whole JSON number, not an array"),
    ({"heart_rate_bpm": 300}, "heart_rate_bpm", "less than or equal to 250"),
    ({"heart_rate_bpm": 10}, "heart_rate_bpm", "greater than or equal to 20"),
    ({"steps": -1}, "steps", "greater than or equal to 0"),
    ({"steps": 40_000}, "steps", "less than or equal to 30000"),
    ({"sleep_state": "dozing"}, "sleep_state", "unknown sleep state 'dozing'"),
    ({"measured_at": "yesterday"}, "measured_at", "is not an RFC 3339 timestamp"),
    ({"measured_at": "2099-01-01T00:00:00Z"}, "measured_at", "in the future"),
    ({"measured_at": "1990-01-01T00:00:00Z"}, "measured_at", "days old"),
    ({"measured_at": 1e20}, "measured_at", "out of range"),
    ({"device_id": None}, "device_id", "Field required"),  # missing device
    ({"device_id": ["w"]}, "device_id", "valid string"),
    ({"steps": None, "measured_at": GOOD_TIME}, "event", "at least one of"),
    ({"schema_version": 2}, "schema_version", "Input should be 1"),
])
def test_invalid_event_is_rejected_by_index_and_dead_lettered(api, device, bad, field,
                                                              reason) -> None:
    dev, token = device
    marks = _mark(api)
    broken = {**_good(dev, 99), "event_id": "bad-1", **bad}
    if "device_id" in bad and bad["device_id"] is None:
        broken.pop("device_id")
    r = _post(api, token, [_good(dev, 1), broken, _good(dev, 2)])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 2 and body["rejected"] == 1
    assert len(body["errors"]) == 1
    err = body["errors"][0]
    assert err["index"] == 1 and err["field"] == field and reason in err["reason"], err
    events, dead = _written(api, marks, dev, 2, 1)
    assert sorted(e["event_id"] for e in events) == ["good-1", "good-2"]
    mine = [d for d in dead if json.loads(d["raw"]).get("event_id") == "bad-1"]
    assert len(mine) == 1
    assert json.loads(mine[0]["raw"]) == broken
    assert mine[0]["errors"][0]["field"] == field


def test_only_invalid_events_gives_422(api, device) -> None:
    dev, token = device
    r = _post(api, token, [{"device_id": dev, "measured_at": GOOD_TIME, "steps": -5}])
    assert r.status_code == 422
    assert r.json()["accepted"] == 0 and r.json()["errors"][0]["field"] == "steps"


def test_unknown_fields_are_ignored(api, device) -> None:
    dev, token = device
    marks = _mark(api)
    r = _post(api, token, [{**_good(dev, 3), "firmware": "1.2", "battery": 40}])
    assert r.status_code == 200 and r.json()["accepted"] == 1
    events, _ = _written(api, marks, dev, 1, 0)
    assert "firmware" not in events[0] and "battery" not in events[0]


def test_malformed_json_body_is_400(api, device) -> None:
    _, token = device
    r = _post(api, token, b'[{"device_id": "x",')
    assert r.status_code == 400 and "not valid JSON" in r.json()["detail"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity(api, device, literal) -> None:
    dev, token = device
    raw = f'[{{"device_id": "{dev}", "measured_at": "{GOOD_TIME}", "heart_rate_bpm": {literal}}}]'
    r = _post(api, token, raw)
    assert r.status_code == 400 and "not valid JSON" in r.json()["detail"]
    # In NDJSON only that line fails; the good line is kept.
    marks = _mark(api)
    ndjson = json.dumps(_good(dev, 4)) + "\n" + raw[1:-1] + "\n"
    r = _post(api, token, ndjson, "application/x-ndjson")
    assert r.status_code == 200 and r.json()["accepted"] == 1
    assert r.json()["errors"][0]["index"] == 1 and "not valid JSON" in r.json()["errors"][0]["reason"]
    events, _ = _written(api, marks, dev, 1, 1)
    assert [e["event_id"] for e in events] == ["good-4"]


def test_invalid_utf8(api, device) -> None:
    dev, token = device
    bad_line = b'{"device_id": "' + dev.encode() + b'", "steps": 1, "note": "\xff\xfe"}'
    r = _post(api, token, b"[" + bad_line + b"]")
    assert r.status_code == 400 and "UTF-8" in r.json()["detail"]
    marks = _mark(api)
    body = json.dumps(_good(dev, 5)).encode() + b"\n" + bad_line + b"\n"
    r = _post(api, token, body, "application/x-ndjson")
    assert r.status_code == 200 and r.json()["accepted"] == 1
    assert "not valid UTF-8" in r.json()["errors"][0]["reason"]
    _, dead = _written(api, marks, dev, 1, 1)
    assert any("not valid UTF-8" in d["errors"][0]["reason"] for d in dead)


def test_oversized_body_is_413(api, device) -> None:
    dev, token = device
    filler = "x" * 1000
    body = [{**_good(dev, i), "pad": filler} for i in range(6000)]  # ~6.5 MB
    r = _post(api, token, body)
    assert r.status_code == 413 and "limit" in r.json()["detail"]


def test_too_many_events_is_413(api, device) -> None:
    dev, token = device
    r = _post(api, token, [{"device_id": dev, "steps": 1, "measured_at": 1780000000 + i}
                           for i in range(10_001)])
    assert r.status_code == 413 and "10001 events; the limit is 10000" in r.json()["detail"]


@pytest.mark.parametrize("ctype", ["text/plain", "application/xml", "multipart/form-data"])
def test_wrong_content_type_is_415(api, device, ctype) -> None:
    dev, token = device
    r = _post(api, token, [_good(dev)], ctype)
    assert r.status_code == 415 and ctype in r.json()["detail"]


def test_same_event_id_twice_in_one_batch(api, device) -> None:
    dev, token = device
    marks = _mark(api)
    r = _post(api, token, [_good(dev, 6), {**_good(dev, 6), "steps": 7}])
    assert r.status_code == 200
    assert r.json()["accepted"] == 1
    err = r.json()["errors"][0]
    assert err == {"index": 1, "field": "event_id",
                   "reason": "duplicate of the event at index 0 in this request "
                             "(same device_id and event_id)"}
    events, _ = _written(api, marks, dev, 1, 1)
    assert [(e["event_id"], e["steps"]) for e in events] == [("good-6", 6)]


def test_token_of_another_device_is_403_and_nothing_is_written(api, device) -> None:
    dev, token = device
    other, _ = new_device(api)
    marks = _mark(api)
    r = _post(api, token, [_good(dev, 8), _good(other, 9)])
    assert r.status_code == 403 and f"event 1 is for device '{other}'" in r.json()["detail"]
    events, _ = _written(api, marks, dev, 0, 0)
    assert events == []


def test_missing_or_bad_token_is_401(api, device) -> None:
    dev, _ = device
    with httpx.Client(base_url=api["url"]) as client:
        r = client.post("/v1/events", json=[_good(dev)])
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        r = client.post("/v1/events", json=[_good(dev)], headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401 and "unknown or revoked" in r.json()["detail"]


def test_reissued_token_revokes_the_old_one(api) -> None:
    dev, old = new_device(api)
    with httpx.Client(base_url=api["url"], headers={
            "Authorization": f"Bearer {api['admin_token']}"}) as admin:
        new = admin.post(f"/v1/admin/devices/{dev}/token").json()["token"]
    # The API caches tokens briefly; the revocation shows within the cache time.
    assert _post(api, new, [_good(dev)]).status_code == 200
    deadline = time.monotonic() + 40
    while _post(api, old, [_good(dev)]).status_code != 401:
        assert time.monotonic() < deadline, "old token still accepted"
        time.sleep(1)


def test_admin_endpoints_need_the_admin_token(api) -> None:
    with httpx.Client(base_url=api["url"]) as client:
        assert client.post("/v1/admin/devices/x/token").status_code == 401
        r = client.post("/v1/admin/users/import", json=[],
                        headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
    with httpx.Client(base_url=api["url"], headers={
            "Authorization": f"Bearer {api['admin_token']}"}) as admin:
        r = admin.post("/v1/admin/users/import", json=[{"user_id": "u", "time_zone": "Mars/Base"}])
        assert r.status_code == 422
        assert "unknown IANA time zone 'Mars/Base'" in json.dumps(r.json())


def test_kafka_unreachable_gives_503_with_retry_after(api) -> None:
    port = free_port()
    env = {**os.environ, "SMARTWATCH_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
           "SMARTWATCH_POSTGRES_DSN": api["dsn"], "SMARTWATCH_API_AUTH": "false",
           "SMARTWATCH_PRODUCE_TIMEOUT_SECONDS": "2", "SMARTWATCH_RETRY_AFTER_SECONDS": "7"}
    proc = subprocess.Popen([sys.executable, "-m", "smartwatch", "api", "--port", str(port),
                             "--state-dir", api["state_dir"]], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "API did not start"
            time.sleep(0.3)
        r = httpx.post(f"{url}/v1/events", json=[_good("any-device")], timeout=30)
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "7"
        assert "nothing of this request was accepted" in r.json()["detail"]
        assert httpx.get(f"{url}/readyz", timeout=30).status_code == 503
        assert httpx.get(f"{url}/healthz").status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_profile_zone_under_any_spelling_is_stored_and_unknown_keys_are_named(api) -> None:
    import psycopg2

    tag = uuid.uuid4().hex[:8]
    entries = [{"user_id": f"{tag}-a", "device_id": f"{tag}-da", "timezone": "Asia/Tokyo",
                "nickname": "a"},
               {"user_id": f"{tag}-b", "device_id": f"{tag}-db", "tz": "America/New_York"},
               {"user_id": f"{tag}-c", "device_id": f"{tag}-dc", "time_zone": "Europe/Berlin",
                "nickname": "c", "shoe_size": 44}]
    with admin(api) as client:
        r = client.post("/v1/admin/users/import", json=entries)
    assert r.status_code == 200, r.text
    assert r.json() == {"users": 3, "devices": 3, "handovers": 0, "moves": 0,
                        "ignored_keys": {"nickname": 2, "shoe_size": 1}}
    with psycopg2.connect(api["dsn"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT user_id, time_zone FROM users WHERE user_id LIKE %s ORDER BY 1",
                    (f"{tag}-%",))
        assert cur.fetchall() == [(f"{tag}-a", "Asia/Tokyo"), (f"{tag}-b", "America/New_York"),
                                  (f"{tag}-c", "Europe/Berlin")]
