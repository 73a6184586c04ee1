"""The request body, read from ASGI messages within the byte limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.types import Receive

from smartwatch.api.drain import last_of_body
from smartwatch.api.ingest.parse import BodyError


class Body:
    """The request body from ASGI messages, and whether its last message was read."""

    __slots__ = ("done", "receive")

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.done = False

    async def chunks(self) -> AsyncIterator[bytes]:
        while not self.done:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self.done = True
                raise BodyError(400, "the client went away before the body ended")
            self.done = last_of_body(message)
            chunk = message.get("body", b"")
            if chunk:
                yield chunk

    async def read(self, limit: int, declared: bytes | None) -> bytes:
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise BodyError(413, f"the body has {declared.decode()} bytes; the limit is {limit}")
        message = await self.receive()  # most bodies come in one message
        if message["type"] != "http.disconnect" and not message.get("more_body", False):
            self.done = True
            body: bytes = message.get("body", b"")
            if len(body) > limit:
                raise BodyError(413, f"the body exceeds the limit of {limit} bytes")
            return body
        if message["type"] == "http.disconnect":
            self.done = True
            raise BodyError(400, "the client went away before the body ended")
        chunks, size = [message.get("body", b"")], len(message.get("body", b""))
        async for chunk in self.chunks():
            size += len(chunk)
            if size > limit:
                raise BodyError(413, f"the body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
