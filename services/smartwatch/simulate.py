"""The watch-fleet simulator: realistic days of readings from N watches, sent to the API.

Each simulated user owns one watch and lives in one of several time zones. Their day follows
local time: asleep from about 23:00 to 07:00 (light, deep and REM phases, heart rate in the
50s), awake the rest of the day with walks (steps) and a higher heart rate. Runs with the same
seed produce the same readings. The ground-truth file holds, per user and local day, what the
aggregates must say: steps, heart-rate sums and counts, sleep heart-rate sums and counts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import random
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from smartwatch.events import ASLEEP_STATES, SleepState

DEFAULT_ZONES = ("America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Sydney", "UTC")
SHAPES = ("canonical", "legacy-a", "legacy-b")
UTC = dt.UTC


@dataclasses.dataclass(frozen=True)
class User:
    user_id: str
    device_id: str
    time_zone: str
    bed_minute: int  # local minute of the day they fall asleep (after 21:00)
    wake_minute: int  # local minute of the day they wake (before 09:00)
    resting_hr: float


@dataclasses.dataclass(frozen=True)
class Reading:
    user: User
    measured_at: dt.datetime  # UTC
    heart_rate_bpm: int
    steps: int
    sleep_state: SleepState

    @property
    def local(self) -> dt.datetime:
        return self.measured_at.astimezone(ZoneInfo(self.user.time_zone))

    def event_id(self) -> str:
        return f"sim-{self.user.device_id}-{int(self.measured_at.timestamp())}"

    def as_shape(self, shape: str) -> dict[str, Any]:
        if shape == "legacy-a":
            return {"device_id": self.user.device_id, "hr": self.heart_rate_bpm,
                    "steps": self.steps, "state": self.sleep_state.value,
                    "timestamp": self.measured_at.timestamp()}
        if shape == "legacy-b":
            # Naive local time, as the prototype's sample data had it; the API reads it in the
            # owner's zone. Readings in the repeated hour of a DST end are sent with an offset
            # instead, since their naive local time names two instants.
            local = self.local
            if _ambiguous(local):
                event = self.as_shape("canonical")
                del event["event_id"]
                return event
            return {"Device ID": self.user.device_id, "Heart Rate": self.heart_rate_bpm,
                    "Step Count": self.steps, "Sleeping State": self.sleep_state.value,
                    "date": local.strftime("%Y-%m-%d %H:%M:%S.") + f"{local.microsecond // 1000:03d}"}
        return {"event_id": self.event_id(), "device_id": self.user.device_id,
                "measured_at": self.local.isoformat(), "heart_rate_bpm": self.heart_rate_bpm,
                "steps": self.steps, "sleep_state": self.sleep_state.value}


def _ambiguous(local: dt.datetime) -> bool:
    naive = local.replace(tzinfo=None)
    zone = local.tzinfo
    return (naive.replace(tzinfo=zone, fold=0).utcoffset()
            != naive.replace(tzinfo=zone, fold=1).utcoffset())


def make_users(n: int, zones: Iterable[str], rng: random.Random, prefix: str = "sim") -> list[User]:
    zones = list(zones)
    return [User(user_id=f"{prefix}-user-{i:05d}", device_id=f"{prefix}-watch-{i:05d}",
                 time_zone=zones[i % len(zones)], bed_minute=rng.randint(22 * 60, 24 * 60 - 1),
                 wake_minute=rng.randint(6 * 60, 8 * 60), resting_hr=rng.uniform(52, 68))
            for i in range(n)]


def _asleep(user: User, minute_of_day: int) -> bool:
    return minute_of_day >= user.bed_minute or minute_of_day < user.wake_minute


def _sleep_phase(user: User, minute_of_day: int) -> SleepState:
    since_bed = (minute_of_day - user.bed_minute) % (24 * 60)
    cycle = since_bed % 90  # 90-minute sleep cycles: light, deep, light, REM
    if cycle < 25:
        return SleepState.light
    if cycle < 55:
        return SleepState.deep
    if cycle < 70:
        return SleepState.light
    return SleepState.rem


def readings(users: list[User], start: dt.datetime, days: int, cadence: dt.timedelta,
             rng: random.Random) -> Iterator[Reading]:
    """Readings of every user from `start` (UTC) for `days` days, one per `cadence`, in time
    order. Each user walks in a few bouts a day; steps count since the previous reading."""
    end = start + dt.timedelta(days=days)
    minutes_per_reading = cadence.total_seconds() / 60
    walking: dict[str, int] = defaultdict(int)  # readings of the current walk still to go
    t = start
    while t < end:
        for user in users:
            local = t.astimezone(ZoneInfo(user.time_zone))
            minute = local.hour * 60 + local.minute
            if _asleep(user, minute):
                state = _sleep_phase(user, minute)
                hr = user.resting_hr - 6 + rng.gauss(0, 2) + (4 if state == SleepState.rem else 0)
                steps = 0
            else:
                state = SleepState.awake
                if walking[user.user_id] == 0 and rng.random() < 0.02:
                    walking[user.user_id] = rng.randint(5, 40)
                if walking[user.user_id]:
                    walking[user.user_id] -= 1
                    steps = int(rng.uniform(60, 120) * minutes_per_reading)
                    hr = user.resting_hr + 35 + rng.gauss(0, 5)
                else:
                    steps = int(rng.uniform(0, 8) * minutes_per_reading)
                    hr = user.resting_hr + 12 + rng.gauss(0, 4)
            yield Reading(user, t, round(min(max(hr, 35), 200)), min(steps, 30_000), state)
        t += cadence


class GroundTruth:
    """Per (user, local date): the figures the aggregates must show."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}

    def add(self, r: Reading) -> None:
        key = (r.user.user_id, r.local.date().isoformat())
        row = self.rows.setdefault(key, {"user_id": key[0], "local_date": key[1],
                                         "time_zone": r.user.time_zone, "readings": 0, "steps": 0,
                                         "hr_sum": 0, "hr_count": 0, "sleep_hr_sum": 0,
                                         "sleep_hr_count": 0})
        row["readings"] += 1
        row["steps"] += r.steps
        row["hr_sum"] += r.heart_rate_bpm
        row["hr_count"] += 1
        if r.sleep_state in ASLEEP_STATES:
            row["sleep_hr_sum"] += r.heart_rate_bpm
            row["sleep_hr_count"] += 1

    def write(self, path: Path) -> None:
        rows = [self.rows[k] for k in sorted(self.rows)]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def last_dst_change(zone: str, before: dt.datetime) -> dt.datetime | None:
    """The last instant before `before` at which `zone` changed its UTC offset (within a year)."""
    tz = ZoneInfo(zone)
    t = before
    offset = t.astimezone(tz).utcoffset()
    step = dt.timedelta(hours=1)
    for _ in range(24 * 370):
        t -= step
        if t.astimezone(tz).utcoffset() != offset:
            return t + step
    return None


# --- sending -------------------------------------------------------------------------------------
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
    headers = {"authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
        r = await client.post("/v1/admin/users/import", json=[
            {"user_id": u.user_id, "device_id": u.device_id, "time_zone": u.time_zone,
             "user_email": f"{u.user_id}@example.invalid"} for u in users])
        if r.status_code != 200:
            raise SendError(f"registering users failed: HTTP {r.status_code}: {r.text[:300]}")
        tokens = {}
        for u in users:
            r = await client.post(f"/v1/admin/devices/{u.device_id}/token")
            if r.status_code != 200:
                raise SendError(f"token for {u.device_id} failed: HTTP {r.status_code}")
            tokens[u.device_id] = r.json()["token"]
    return tokens


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
