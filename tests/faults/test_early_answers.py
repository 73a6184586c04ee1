"""An answer the API gives before it has read the body (413 for a body over the limit, 401
for a missing token) reaches ordinary clients that send the whole body before they read the
answer: urllib, requests and httpx, against the real API (uvicorn) of the test stack. Without
smartwatch.api.drain they get "connection reset by peer" instead."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import httpx
import pytest
import requests

from tests.integration.api.helpers import new_device

pytestmark = pytest.mark.integration

LIMIT = 5 * 1024 * 1024  # SMARTWATCH_MAX_BODY_BYTES's default, which the test stack uses


def _body(size: int) -> bytes:
    line = json.dumps({"device_id": "x", "hr": 60, "steps": 0, "state": "awake",
                       "timestamp": 1.0}).encode() + b"\n"
    return line * (size // len(line) + 1)


def _urllib(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _requests(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    r = requests.post(url, data=body, headers=headers, timeout=60)
    return r.status_code, r.json()


def _httpx(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    r = httpx.post(url, content=body, headers=headers, timeout=60)
    return r.status_code, r.json()


CLIENTS = {"urllib": _urllib, "requests": _requests, "httpx": _httpx}


@pytest.mark.parametrize("client", CLIENTS)
def test_a_body_over_the_limit_gets_its_413(api, client: str) -> None:
    _, token = new_device(api)
    status, answer = CLIENTS[client](
        f"{api['url']}/v1/events", _body(LIMIT + 200_000),
        {"content-type": "application/x-ndjson", "authorization": f"Bearer {token}"})
    assert status == 413
    assert f"the limit is {LIMIT}" in answer["detail"] or \
        f"exceeds the limit of {LIMIT} bytes" in answer["detail"]


@pytest.mark.parametrize("client", CLIENTS)
def test_a_large_body_without_a_token_gets_its_401(api, client: str) -> None:
    status, answer = CLIENTS[client](f"{api['url']}/v1/events", _body(LIMIT // 2),
                                     {"content-type": "application/x-ndjson"})
    assert status == 401
    assert "token" in answer["detail"].lower()


def test_after_a_drained_413_the_connection_serves_the_next_request(api) -> None:
    device, token = new_device(api)
    headers = {"content-type": "application/x-ndjson", "authorization": f"Bearer {token}"}
    with httpx.Client(base_url=api["url"], timeout=60, headers=headers) as client:
        assert client.post("/v1/events", content=_body(LIMIT + 10)).status_code == 413
        one = json.dumps({"device_id": device, "hr": 60, "steps": 1, "state": "awake",
                          "timestamp": 1767225600.0})
        r = client.post("/v1/events", content=one.encode())
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
