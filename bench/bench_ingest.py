"""Ingest throughput, all in one run on the same machine and the same events:

- the API, NDJSON batches of 500 events to /v1/events (auth on, acks=all), load from wrk;
- a bare aiokafka producer pushing the same canonical events (the ceiling the API is held to);
- /stream with one event a request;
- the prototype's way (aiohttp, one send_and_wait and one log line per event), one event a
  request: the baseline the README compares against.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from smartwatch.events import to_canonical
from smartwatch.settings import Settings
from smartwatch_dev.stack import Stack
from smartwatch_dev.stack.process import free_port, port_open, stop, wait_until
from smartwatch_dev.toolchain import REPO_ROOT

HERE = Path(__file__).resolve().parent
DEVICES = 40
BATCH = 500
BATCHES_PER_DEVICE = 10
DURATION = "15s"


def _events(device: str, n: int, start: int) -> list[dict]:
    return [{"event_id": f"{device}-{start + i}", "device_id": device,
             "measured_at": f"2026-06-01T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z",
             "heart_rate_bpm": 60 + i % 40, "steps": i % 100,
             "sleep_state": "awake" if i % 3 else "light"} for i in range(n)]


def _wrk(url: str, listing: Path, connections: int) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{DURATION}", "--latency",
                          "-s", str(HERE / "ingest" / "post.lua"), url, "--", str(listing)],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 1e-3, "ms": 1, "s": 1e3}
    return {"rps": rps, "non2xx": int(bad.group(1)) if bad else 0,
            "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan")}


async def _bare_rate(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]],
                     batch_api: bool) -> float:
    """A bare aiokafka producer (acks=all, idempotent, lz4) pushing the records BATCH a round,
    a round acknowledged before the next: with `send()` a record, or with its batch API (one
    batch a partition a round, partitioned as the default partitioner does)."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.partitioner import DefaultPartitioner

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                compression_type="lz4", linger_ms=5, max_batch_size=512 * 1024)
    await producer.start()
    try:
        partitions = sorted(await producer.partitions_for(topic))
        partitioner = DefaultPartitioner()
        t0 = time.perf_counter()
        for i in range(0, len(records), BATCH):
            round_ = records[i:i + BATCH]
            if not batch_api:
                await asyncio.gather(*[await producer.send(topic, v, key=k) for k, v in round_])
                continue
            batches = {}
            for k, v in round_:
                p = partitioner(k, partitions, partitions)
                if p not in batches:
                    batches[p] = producer.create_batch()
                if batches[p].append(key=k, value=v, timestamp=None) is None:
                    raise RuntimeError("a round outgrew one batch")
            await asyncio.gather(*[await producer.send_batch(b, topic, partition=p)
                                   for p, b in batches.items()])
        return len(records) / (time.perf_counter() - t0)
    finally:
        await producer.stop()


def _tokens(url: str, admin: str, devices: list[str]) -> dict[str, str]:
    """Register the devices' owners and take a token for each device."""
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {admin}"},
                      timeout=60) as client:
        client.post("/v1/admin/users/import", json=[
            {"user_id": f"u-{d}", "device_id": d, "time_zone": "Europe/Berlin"}
            for d in devices]).raise_for_status()
        return {d: client.post(f"/v1/admin/devices/{d}/token").json()["token"] for d in devices}


def _write_requests(work: Path, tokens: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """wrk's request lists (batches, single events, the prototype's) in `work`; the same
    events as canonical Kafka records, for the bare producer."""
    batch_list, single_list, proto_list = [], [], []
    records: list[tuple[bytes, bytes]] = []
    now = dt.datetime.now(dt.UTC)
    for d, token in tokens.items():
        for b in range(BATCHES_PER_DEVICE):
            events = _events(d, BATCH, b * BATCH)
            path = work / f"{d}-{b}.ndjson"
            path.write_text("".join(json.dumps(e) + "\n" for e in events))
            batch_list.append(f"application/x-ndjson {token} {path}")
            for e in events:
                c = to_canonical(e, lambda _: "Europe/Berlin", received_at=now,
                                 max_past=dt.timedelta(days=3650),
                                 max_future=dt.timedelta(days=1))
                records.append((d.encode(), c.to_json()))
        single = work / f"{d}-single.json"
        single.write_text(json.dumps(_events(d, 1, 0)[0]))
        single_list.append(f"application/json {token} {single}")
        proto_list.append(f"application/json - {single}")
    for name, lines in (("batches", batch_list), ("single", single_list), ("proto", proto_list)):
        (work / f"{name}.list").write_text("\n".join(lines) + "\n")
    return records


def _api_rows(workers: int, url: str, work: Path, bare: float,
              bare_batches: float) -> tuple[list[dict[str, object]], dict[str, float]]:
    """The rows of one API configuration, and its /stream figures."""
    batch = _wrk(f"{url}/v1/events", work / "batches.list", 8)
    batch_eps = batch["rps"] * BATCH
    single = _wrk(f"{url}/stream", work / "single.list", 32)
    return [
        {"case": f"API ({workers} worker{'s' if workers > 1 else ''}) /v1/events, NDJSON "
                 f"batches of {BATCH} (p99 {batch['p99_ms']:.0f} ms, {batch['non2xx']} non-2xx)",
         "value": round(batch_eps), "unit": "events/s", "target": ">= 50000"},
        {"case": f"API ({workers}) batches / bare producer, send()",
         "value": round(100 * batch_eps / bare, 1), "unit": "%", "target": ">= 60"},
        {"case": f"API ({workers}) batches / bare producer, batch API",
         "value": round(100 * batch_eps / bare_batches, 1), "unit": "%", "target": ">= 60"},
        {"case": f"API ({workers}) /stream, one event a request (p99 "
                 f"{single['p99_ms']:.1f} ms, {single['non2xx']} non-2xx)",
         "value": round(single["rps"]), "unit": "events/s"},
    ], single


def _prototype(bootstrap: str, topic: str, state: Path, work: Path,
               started: list[subprocess.Popen]) -> dict[str, float]:
    """The prototype's server on the same broker, one event a request (its process goes into
    `started`, for the caller to stop)."""
    port = free_port()
    log = work / "prototype.log"
    with open(log, "w") as out:
        proto = subprocess.Popen([sys.executable, str(HERE / "ingest" / "prototype_server.py"),
                                  bootstrap, topic, str(port), str(state)], stdout=out, stderr=out)
    started.append(proto)
    wait_until(lambda: port_open("127.0.0.1", port), 30, "prototype server", proto, log)
    return _wrk(f"http://127.0.0.1:{port}/stream", work / "proto.list", 32)


def _ceiling(kind: str, dsn: str, work: Path,
             started: list[subprocess.Popen]) -> dict[str, float]:
    """/stream of a ceiling server (bench/ingest/ceiling_server.py), one event a request."""
    port = free_port()
    log = work / f"ceiling-{kind}.log"
    with open(log, "w") as out:
        server = subprocess.Popen([sys.executable, str(HERE / "ingest" / "ceiling_server.py"),
                                   kind, str(port), dsn], stdout=out, stderr=out)
    started.append(server)
    wait_until(lambda: port_open("127.0.0.1", port), 30, f"{kind} server", server, log)
    _wrk(f"http://127.0.0.1:{port}/stream", work / "single.list", 32)  # its caches warm
    return _wrk(f"http://127.0.0.1:{port}/stream", work / "single.list", 32)


def run() -> list[dict[str, object]]:
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is missing: run make setup")
    state = REPO_ROOT / ".stack" / f"bench-ingest-{uuid.uuid4().hex[:8]}"
    settings = Settings(kafka_bootstrap=None, postgres_dsn=None, kubeconfig=None)
    stack = Stack(settings, state)
    started: list[subprocess.Popen] = []
    rows: list[dict[str, object]] = []
    try:
        stack.up(only=("api",))
        status = stack.status()
        url, bootstrap = status["api_url"], status["kafka_bootstrap"]
        admin = Path(status["api_admin_token_file"]).read_text().strip()
        work = state / "bench"
        work.mkdir()
        tokens = _tokens(url, admin, [f"bench-{i:03d}" for i in range(DEVICES)])
        records = _write_requests(work, tokens)
        bare = asyncio.run(_bare_rate(bootstrap, settings.events_topic, records, False))
        bare_batches = asyncio.run(_bare_rate(bootstrap, settings.events_topic, records, True))
        rows += [{"case": "bare aiokafka producer, same events, acks=all, send() a record",
                  "value": round(bare), "unit": "events/s"},
                 {"case": "bare aiokafka producer, the same through its batch API",
                  "value": round(bare_batches), "unit": "events/s"}]
        stream: dict[int, dict[str, float]] = {}
        for workers in (1, 2):
            if workers != 1:
                stack.down(only=("api",))
                stack.settings = settings.model_copy(update={"api_workers": workers})
                stack.up(only=("api",))
                url = stack.status()["api_url"]
            api_rows, stream[workers] = _api_rows(workers, url, work, bare, bare_batches)
            rows += api_rows
        proto = _prototype(bootstrap, settings.events_topic, state, work, started)
        ceilings = {kind: _ceiling(kind, status["postgres_dsn"], work, started)
                    for kind in ("floor", "no-kafka")}
        rows += [
            {"case": f"prototype server, one event a request (p99 {proto['p99_ms']:.1f} ms, "
                     f"{proto['non2xx']} non-2xx)",
             "value": round(proto["rps"]), "unit": "events/s", "target": "baseline"},
            {"case": "API (1) /stream / the prototype's server, events/s",
             "value": round(stream[1]["rps"] / proto["rps"], 2), "unit": "x", "target": ">= 1.5"},
            {"case": "API (1) /stream p99 / the prototype's p99",
             "value": round(stream[1]["p99_ms"] / proto["p99_ms"], 2), "unit": "x",
             "target": "<= 3"},
            {"case": "ceiling: uvicorn alone, an ASGI app that reads the body and answers 200 "
                     f"(p99 {ceilings['floor']['p99_ms']:.1f} ms)",
             "value": round(ceilings["floor"]["rps"]), "unit": "events/s", "target": "ceiling"},
            {"case": "ceiling: the API (1), auth and validation on, Kafka replaced by an "
                     f"immediate acknowledgement (p99 {ceilings['no-kafka']['p99_ms']:.1f} ms)",
             "value": round(ceilings["no-kafka"]["rps"]), "unit": "events/s",
             "target": "ceiling"}]
    finally:
        for proto in started:
            stop(proto.pid, None)
        stack.purge()
    return rows
