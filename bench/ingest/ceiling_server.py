"""Ceilings of /stream on this machine, served as the API is (uvicorn, uvloop, httptools, one
worker): `floor` is uvicorn alone (an ASGI app that reads the body and answers 200);
`no-kafka` is the API itself, auth and validation on, with a producer that acknowledges at
once instead of Kafka. Usage: ceiling_server.py floor|no-kafka PORT [POSTGRES_DSN]"""

from __future__ import annotations

import sys

import uvicorn


async def floor(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})


class AcknowledgedAtOnce:
    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def ready(self) -> bool:
        return True

    async def send_all(self, records) -> None:
        pass


def main(kind: str, port: int, dsn: str | None) -> None:
    options = {"port": port, "log_level": "warning", "access_log": False, "loop": "uvloop",
               "http": "httptools", "proxy_headers": False, "server_header": False}
    if kind == "floor":
        uvicorn.run(floor, **options)
        return
    from smartwatch.api.main import create_app
    from smartwatch.settings import Settings

    settings = Settings(kafka_bootstrap="unused:9092", postgres_dsn=dsn)
    uvicorn.run(create_app(settings, producer=AcknowledgedAtOnce()), **options)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
