"""Sending: readings to /v1/events with retries, owners and device tokens through the admin
endpoints, replays of prototype data files."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx

from smartwatch_dev.simulate.fleet import Fleet, GroundTruth, Reading, User


class SendError(RuntimeError):
    pass


class Sender:
    """Sends NDJSON batches to /v1/events with retries: backoff doubling from 0.5 s, honouring
    Retry-After, up to `retries` tries a batch. A 4xx other than 408/429 is not retried."""

    def __init__(self, url: str, tokens: dict[str, str] | None, *, concurrency: int = 4,
                 retries: int = 8, progress_total: int | None = None, quiet: bool = False) -> None:
        self.url = url.rstrip("/")
        self.tokens = tokens
        self.retries = retries
        self.sem = asyncio.Semaphore(concurrency)
        self.sent = self.rejected = 0
        self.retried = 0
        self.total = progress_total
        self.quiet = quiet
        self._t0 = time.monotonic()
        self._last_progress = 0.0
        self.errors: list[dict[str, Any]] = []

    async def send(self, client: httpx.AsyncClient, device: str, events: list[dict]) -> None:
        body = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events).encode()
        headers = {"content-type": "application/x-ndjson"}
        if self.tokens is not None:
            headers["authorization"] = f"Bearer {self.tokens[device]}"
        delay = 0.5
        async with self.sem:
            for attempt in range(1, self.retries + 1):
                try:
                    r = await client.post(f"{self.url}/v1/events", content=body, headers=headers)
                except httpx.TransportError as exc:
                    if attempt == self.retries:
                        raise SendError(f"{device}: {exc!r} after {attempt} tries") from None
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30)
                    self.retried += 1
                    continue
                if r.status_code in (200, 422):
                    result = r.json()
                    self.sent += result["accepted"]
                    self.rejected += result["rejected"]
                    self.errors.extend(result["errors"][:10])
                    break
                if r.status_code in (408, 429) or r.status_code >= 500:
                    if attempt == self.retries:
                        raise SendError(f"{device}: HTTP {r.status_code} after {attempt} tries: "
                                        f"{r.text[:200]}")
                    wait = r.headers.get("retry-after")
                    await asyncio.sleep(float(wait) if wait and wait.isdigit() else delay)
                    delay = min(delay * 2, 30)
                    self.retried += 1
                    continue
                raise SendError(f"{device}: HTTP {r.status_code}: {r.text[:300]}")
        self.progress()

    def progress(self, final: bool = False) -> None:
        now = time.monotonic()
        if self.quiet or (not final and now - self._last_progress < 0.5):
            return
        self._last_progress = now
        rate = self.sent / max(now - self._t0, 1e-9)
        total = f"/{self.total}" if self.total else ""
        width = 30
        bar = ""
        if self.total:
            done = int(width * min(self.sent + self.rejected, self.total) / self.total)
            bar = "[" + "#" * done + "." * (width - done) + "] "
        print(f"\r{bar}{self.sent}{total} accepted, {self.rejected} rejected, "
              f"{rate:,.0f} events/s", end="\n" if final else "", file=sys.stderr, flush=True)


async def register(url: str, admin_token: str, users: list[User]) -> dict[str, str]:
    """Owners in the registry (fake emails, their zones) and one token a watch."""
    async with _admin(url, admin_token) as client:
        r = await client.post("/v1/admin/users/import", json=[
            {"user_id": u.user_id, "device_id": u.device_id, "time_zone": u.time_zone,
             "user_email": f"{u.user_id}@example.invalid"} for u in users])
        if r.status_code != 200:
            raise SendError(f"registering users failed: HTTP {r.status_code}: {r.text[:300]}")
        return await _tokens(client, [u.device_id for u in users])


async def issue_tokens(url: str, admin_token: str, devices: list[str]) -> dict[str, str]:
    """One new token a device (devices already registered keep their owners)."""
    async with _admin(url, admin_token) as client:
        return await _tokens(client, devices)


def _admin(url: str, admin_token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, timeout=60,
                             headers={"authorization": f"Bearer {admin_token}"})


async def _tokens(client: httpx.AsyncClient, devices: list[str]) -> dict[str, str]:
    tokens = {}
    for device in devices:
        r = await client.post(f"/v1/admin/devices/{device}/token")
        if r.status_code != 200:
            raise SendError(f"token for {device} failed: HTTP {r.status_code}")
        tokens[device] = r.json()["token"]
    return tokens


def send_fleet(fleet: Fleet, start: dt.datetime, shape: str, url: str, admin_token: str | None,
               *, batch: int, concurrency: int, speed: float | None,
               truth: GroundTruth) -> Sender:
    """Register the fleet's owners and send their readings: as fast as the API takes them,
    or in real time `speed` times as fast. Without `admin_token`, unregistered and without
    device tokens (an API with auth off)."""
    users, stream = fleet.stream(start)
    tokens = asyncio.run(register(url, admin_token, users)) if admin_token else None
    sender = Sender(url, tokens, concurrency=concurrency, progress_total=fleet.total)
    if speed:
        async def real_time() -> None:
            async with httpx.AsyncClient(timeout=60) as client:
                await batches_real_time(stream, shape, batch, speed, truth, sender, client)
        asyncio.run(real_time())
    else:
        asyncio.run(send_all(sender, batches_asap(stream, shape, batch, truth)))
    return sender


def replay(path: Path, url: str, admin_token: str | None, *, batch: int,
           concurrency: int) -> tuple[Sender, int, int]:
    """Send the events of a prototype data.json file, in per-device batches: the sender, the
    events and the devices. With `admin_token`, each device gets a token first."""
    events = load_replay(path)
    by_device: dict[str, list[dict]] = defaultdict(list)
    for e in events:
        by_device[device_of(e)].append(e)
    tokens = asyncio.run(issue_tokens(url, admin_token, sorted(by_device))) if admin_token else None
    batches = [(d, evs[i:i + batch]) for d, evs in by_device.items()
               for i in range(0, len(evs), batch)]
    sender = Sender(url, tokens, concurrency=concurrency, progress_total=len(events))
    asyncio.run(send_all(sender, batches))
    return sender, len(events), len(by_device)


async def send_all(sender: Sender, batches: Iterable[tuple[str, list[dict]]]) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        pending: set[asyncio.Task[None]] = set()
        for device, events in batches:
            pending.add(asyncio.create_task(sender.send(client, device, events)))
            if len(pending) >= sender.sem._value * 2 + 2:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
        if pending:
            for task in (await asyncio.wait(pending))[0]:
                task.result()
    sender.progress(final=True)


def batches_asap(stream: Iterable[Reading], shape: str, batch: int,
                 truth: GroundTruth | None) -> Iterator[tuple[str, list[dict]]]:
    """Per-device batches of `batch` events (a token may send only its own device's)."""
    buffers: dict[str, list[dict]] = defaultdict(list)
    for r in stream:
        if truth is not None:
            truth.add(r)
        buf = buffers[r.user.device_id]
        buf.append(r.as_shape(shape))
        if len(buf) >= batch:
            yield r.user.device_id, buf
            buffers[r.user.device_id] = []
    for device, buf in buffers.items():
        if buf:
            yield device, buf


async def batches_real_time(stream: Iterable[Reading], shape: str, batch: int, speed: float,
                            truth: GroundTruth | None, sender: Sender,
                            client: httpx.AsyncClient) -> None:
    """Send each reading when its time comes, with simulated time running `speed` times as
    fast as the clock; what is due is sent once a second (or at `batch` events)."""
    iterator = iter(stream)
    first = next(iterator, None)
    if first is None:
        return
    sim_start, wall_start = first.measured_at, time.monotonic()
    due: dict[str, list[dict]] = defaultdict(list)
    r: Reading | None = first
    while r is not None:
        now_sim = sim_start + dt.timedelta(seconds=(time.monotonic() - wall_start) * speed)
        while r is not None and r.measured_at <= now_sim:
            if truth is not None:
                truth.add(r)
            due[r.user.device_id].append(r.as_shape(shape))
            r = next(iterator, None)
        sends = []
        for device, events in due.items():
            for i in range(0, len(events), batch):
                sends.append(sender.send(client, device, events[i:i + batch]))
        due.clear()
        if sends:
            await asyncio.gather(*sends)
        await asyncio.sleep(1.0)
    sender.progress(final=True)


def load_replay(path: Path) -> list[dict[str, Any]]:
    """Events of a JSON file in the prototype's data.json shape (an array, or one object a
    line)."""
    text = path.read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = [json.loads(line) for line in text.splitlines() if line.strip()]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        raise SendError(f"{path}: expected a JSON array of event objects")
    return data


def device_of(event: dict[str, Any]) -> str:
    device = event.get("device_id", event.get("Device ID"))
    if device is None:
        return ""
    return str(device)
