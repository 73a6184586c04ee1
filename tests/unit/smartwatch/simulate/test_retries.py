"""The simulator's sender honours Retry-After and stops on a client error (pure logic,
against httpx's mock transport)."""

import asyncio
import time

import httpx
import pytest

from smartwatch_dev.simulate import Sender, SendError

pytestmark = pytest.mark.unit


def _run(handler, sender: Sender):
    async def go():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            await sender.send(client, "w1", [{"device_id": "w1", "steps": 1}])
    asyncio.run(go())


def test_retry_after_is_honoured() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        if len(calls) < 3:
            return httpx.Response(503, headers={"Retry-After": "1"}, json={"detail": "busy"})
        assert request.headers["authorization"] == "Bearer tok"
        assert request.content == b'{"device_id":"w1","steps":1}\n'
        return httpx.Response(200, json={"accepted": 1, "rejected": 0, "errors": []})

    sender = Sender("http://api", {"w1": "tok"}, quiet=True)
    _run(handler, sender)
    assert len(calls) == 3 and sender.sent == 1 and sender.retried == 2
    assert calls[1] - calls[0] >= 0.95 and calls[2] - calls[1] >= 0.95


def test_client_errors_are_not_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(403, json={"detail": "another device"})

    with pytest.raises(SendError, match="HTTP 403"):
        _run(handler, Sender("http://api", {"w1": "tok"}, quiet=True))
    assert len(calls) == 1


def test_gives_up_after_the_last_try() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": "0"})

    with pytest.raises(SendError, match="HTTP 503 after 3 tries"):
        _run(handler, Sender("http://api", None, retries=3, quiet=True))
