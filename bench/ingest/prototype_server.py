"""The baseline: an ingest server written the prototype's way, one `send_and_wait` and one
log line per event (aiohttp, aiokafka, no validation, no batching)."""

import json
import logging
import sys

from aiohttp import web
from aiokafka import AIOKafkaProducer

logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")


async def main(bootstrap: str, topic: str, port: int) -> web.AppRunner:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()

    async def stream(request: web.Request) -> web.Response:
        data = await request.json()
        await producer.send_and_wait(topic, json.dumps(data).encode())
        logging.info("received event %s", data)
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/stream", stream)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


if __name__ == "__main__":
    import asyncio

    bootstrap, topic, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    loop = asyncio.new_event_loop()
    loop.run_until_complete(main(bootstrap, topic, port))
    loop.run_forever()
