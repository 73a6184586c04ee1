"""A corpus of malformed requests and events against the real API (uvicorn, Kafka, Postgres of
the test stack), table-driven: no answer is a 5xx, every rejection is a 4xx whose body names
the problem (the field and reason of each rejected event, or a `detail`), and the server stays
healthy. Hand-written cases, each with the status and the field the answer must name."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.integration.api.helpers import new_device

pytestmark = pytest.mark.integration

GOOD = {"event_id": "corpus-1", "measured_at": "2026-06-01T12:00:00Z", "heart_rate_bpm": 60,
        "steps": 3, "sleep_state": "awake"}
LEGACY = {"hr": 60, "steps": 3, "state": "awake", "timestamp": 1780315200.0}

# (field, bad value, the field the answer names): one event with that field replaced.
EVENT_CASES = [
    *[("event_id", v, "event_id") for v in ("", "x" * 129, 5, [], {}, True)],
    *[("measured_at", v, "measured_at") for v in (
        "", "yesterday", "2026-13-01T00:00:00Z", "2026-06-31T00:00:00Z", "12:00", "2026-06-01T25:00:00Z",
        True, [], {}, 1e20, -1e20, "2099-01-01T00:00:00Z", "1990-01-01T00:00:00Z", None)],
    *[("heart_rate_bpm", v, "heart_rate_bpm") for v in (
        "72", True, [], {}, 19, 251, -5, 1e300, "NaN", "")],
    *[("steps", v, "steps") for v in ("1", 1.5, True, -1, 30_001, [], {}, 1e30, "")],
    # (true and false are accepted: prototype clients sent "is sleeping")
    *[("sleep_state", v, "sleep_state") for v in ("dozing", 1, 0.5, [], {}, "", "AWAKE!")],
    *[("schema_version", v, "schema_version") for v in (2, "1", 0, -1, [], True)],
]
# Legacy (prototype) events: (field, bad value, the canonical field the answer names).
LEGACY_CASES = [
    *[("timestamp", v, "measured_at") for v in ("x", -1, 1e20, [], True, "")],
    *[("hr", v, "heart_rate_bpm") for v in ("a", 500, [], True)],
    *[("state", v, "sleep_state") for v in ("zzz", 3, [])],
    *[("steps", v, "steps") for v in (-3, "many", 2.5)],
]
# Whole events that are not objects or lack what every event needs: named field "event".
NOT_EVENTS = [[], "a string", 5, None, True, {}, {"steps": 1}]
# (body, content type, expected status): whole requests that cannot be read.
BODIES = [
    (b"", "application/json", 400), (b" ", "application/json", 400),
    (b"{", "application/json", 400), (b"[", "application/json", 400),
    (b"[1,", "application/json", 400), (b"nul", "application/json", 400),
    (b'{"a":}', "application/json", 400), (b"\xff\xfe", "application/json", 400),
    (b"[" * 5000 + b"]" * 5000, "application/json", 400),
    (b'"just a string"', "application/json", 400), (b"123", "application/json", 400),
    (b"true", "application/json", 400), (b"null", "application/json", 400),
    (b'[{"event_id": NaN}]', "application/json", 400),
    (b'[{"steps": Infinity}]', "application/json", 400),
    (b"[]", "application/json", 400), (b"\n\n\n", "application/x-ndjson", 400),
    (b"a,b,c\n1,2,3", "text/csv", 415), (b"<e/>", "application/xml", 415),
    (b"x=1", "application/x-www-form-urlencoded", 415), (b"{}", "text/plain", 415),
    (b"{}", "image/png", 415),
]
# (method, path, expected status): the wrong method or a bad query, with the admin token.
ROUTES = [
    ("GET", "/v1/events", 405), ("PUT", "/v1/events", 405), ("DELETE", "/v1/events", 405),
    ("GET", "/stream", 405), ("GET", "/v1/users/u/aggregates/hourly", 422),
    ("GET", "/v1/users/u/aggregates/daily?from=2026-02-30", 422),
    ("GET", "/v1/users/u/aggregates/daily?from=yesterday", 422),
    ("GET", "/v1/users/u/aggregates/daily?from=2026-03-02&to=2026-03-01", 400),
    ("GET", "/v1/nowhere", 404), ("POST", "/v1/admin/users/import", 401),
]
# Authorization headers that are not a valid device token.
AUTHS = ["", "Bearer", "Bearer unknown-token", "Basic dXNlcjpwYXNz", "Bearer x y", "Bearer " + "t" * 10_000,
         "bearer", "Token abc"]


@pytest.fixture(scope="module")
def client(api):
    device, token = new_device(api)
    with httpx.Client(base_url=api["url"], timeout=30,
                      headers={"authorization": f"Bearer {token}"}) as c:
        c.device = device  # type: ignore[attr-defined]
        yield c
        assert c.get("/healthz").status_code == 200  # healthy after all of it


def _named(answer: dict, field: str) -> None:
    """A 422's answer names the one rejected event's field, with a reason."""
    assert answer["accepted"] == 0 and answer["rejected"] == 1, answer
    (error,) = answer["errors"]
    assert error["index"] == 0 and error["field"] == field and error["reason"], error


@pytest.mark.parametrize(("field", "value", "named"), EVENT_CASES,
                         ids=[f"{f}={json.dumps(v)[:20]}" for f, v, _ in EVENT_CASES])
def test_a_bad_field_is_named(client, field: str, value, named: str) -> None:
    event = {**GOOD, "device_id": client.device, field: value}
    if value is None:
        event.pop(field)
    r = client.post("/v1/events", json=[event])
    assert r.status_code == 422, r.text
    _named(r.json(), named)


@pytest.mark.parametrize(("field", "value", "named"), LEGACY_CASES,
                         ids=[f"{f}={json.dumps(v)[:20]}" for f, v, _ in LEGACY_CASES])
def test_a_bad_legacy_field_is_named(client, field: str, value, named: str) -> None:
    r = client.post("/v1/events", json=[{**LEGACY, "device_id": client.device, field: value}])
    assert r.status_code == 422, r.text
    _named(r.json(), named)


@pytest.mark.parametrize("value", NOT_EVENTS, ids=[json.dumps(v) for v in NOT_EVENTS])
def test_what_is_not_an_event_is_named(client, value) -> None:
    r = client.post("/v1/events", json=[value])
    assert r.status_code in (400, 422), r.text
    answer = r.json()
    assert answer.get("detail") or answer["errors"][0]["reason"], answer


@pytest.mark.parametrize(("body", "ctype", "status"), BODIES,
                         ids=[f"{c}:{b[:12]!r}" for b, c, _ in BODIES])
def test_an_unreadable_body_is_answered_precisely(client, body: bytes, ctype: str,
                                                  status: int) -> None:
    r = client.post("/v1/events", content=body, headers={"content-type": ctype})
    assert r.status_code == status, r.text
    assert isinstance(r.json()["detail"], str) and len(r.json()["detail"]) > 10


@pytest.mark.parametrize(("method", "path", "status"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_a_wrong_route_or_query_is_a_4xx_with_detail(api, method: str, path: str,
                                                     status: int) -> None:
    r = httpx.request(method, f"{api['url']}{path}", timeout=30,
                      headers={"authorization": f"Bearer {api['admin_token']}"}
                      if "admin" not in path else {})
    assert r.status_code == status, r.text
    assert r.json()["detail"], r.text


@pytest.mark.parametrize("auth", AUTHS, ids=[a[:16] or "empty" for a in AUTHS])
def test_a_bad_authorization_is_401_naming_the_token(api, client, auth: str) -> None:
    r = httpx.post(f"{api['url']}/v1/events", json=[{**GOOD, "device_id": client.device}],
                   headers={"authorization": auth} if auth else {}, timeout=30)
    assert r.status_code == 401, r.text
    assert "token" in r.json()["detail"].lower() or "bearer" in r.json()["detail"].lower()


def test_the_corpus_has_over_a_hundred_cases() -> None:
    assert len(EVENT_CASES) + len(LEGACY_CASES) + len(NOT_EVENTS) + len(BODIES) + len(ROUTES) \
        + len(AUTHS) > 100
