"""Reading the rest of a request body that is answered without it (ASGI middleware).

A client that sends its whole body before it reads the answer (Python's urllib, requests,
httpx, most HTTP libraries) gets "connection reset by peer" instead of the answer when the
server responds early, e.g. 413 for a body over the limit or 401 for a missing token, and
then closes the connection while the body is still arriving: the client cannot tell "too
large" from "the server died". As nginx's lingering close does, this middleware reads and
drops what is left of the body before the answer starts, up to a bound (then it answers with
`Connection: close`, and a client still sending may see the reset after all).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def last_of_body(message: Message) -> bool:
    return message["type"] == "http.disconnect" or not message.get("more_body", False)


async def drain(receive: Receive, bound: int) -> bool:
    """Read and drop the rest of a body, up to `bound` bytes; whether it ended."""
    read = 0
    while read <= bound:
        rest = await receive()
        read += len(rest.get("body", b""))
        if last_of_body(rest):
            return True
    return False


class DrainUnreadBody:
    def __init__(self, app: ASGIApp, bound: int) -> None:
        self.app = app
        self.bound = bound

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        done = False  # the body's last message has been received

        async def tracked() -> Message:
            nonlocal done
            message = await receive()
            if last_of_body(message):
                done = True
            return message

        async def draining(message: Message) -> None:
            nonlocal done
            if message["type"] == "http.response.start" and not done:
                done = await drain(receive, self.bound)
                if not done:
                    message = {**message, "headers": [*message.get("headers", []),
                                                      (b"connection", b"close")]}
            await send(message)

        await self.app(scope, tracked, draining)
