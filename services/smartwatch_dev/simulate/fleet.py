"""The fleet: simulated owners and their watches' readings, and the ground truth of what the
aggregates must say about them (no I/O but the events file)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

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


@dataclasses.dataclass(frozen=True)
class Fleet:
    """What to simulate: `devices` watches (one owner each, in `zones` in turn) for `days` days
    from `start` (UTC; default: `days` days before today), one reading every `cadence` seconds.
    With `dst`, the days are moved around the last change of offset of the zones."""

    devices: int = 10
    days: int = 1
    start: dt.datetime | None = None
    cadence: float = 60.0
    zones: tuple[str, ...] = DEFAULT_ZONES
    dst: bool = False
    seed: int = 1
    prefix: str = "sim"

    @property
    def total(self) -> int:
        """About how many readings the fleet sends (for progress reports)."""
        return self.devices * int(self.days * 86400 // self.cadence)

    def first_instant(self) -> dt.datetime:
        if self.start is not None:
            start = self.start.replace(tzinfo=UTC)
        else:
            today = dt.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            start = today - dt.timedelta(days=self.days)
        if not self.dst:
            return start
        end = start + dt.timedelta(days=self.days)
        changes = [c for z in self.zones if (c := last_dst_change(z, end))]
        if not changes:
            raise RuntimeError(f"none of the zones {list(self.zones)} changed offset in the last year")
        return (max(changes) - dt.timedelta(days=max(1, self.days // 2))).replace(
            hour=0, minute=0, second=0, microsecond=0)

    def stream(self, start: dt.datetime) -> tuple[list[User], Iterator[Reading]]:
        """The owners, and their readings from `start` in time order (the same for a seed)."""
        rng = random.Random(self.seed)
        users = make_users(self.devices, self.zones, rng, prefix=self.prefix)
        return users, readings(users, start, self.days, dt.timedelta(seconds=self.cadence), rng)


def write_events(fleet: Fleet, start: dt.datetime, shape: str, path: Path,
                 truth: GroundTruth) -> int:
    """The fleet's events as NDJSON in `path` instead of sending them; how many."""
    count = 0
    with path.open("w") as out:
        for r in fleet.stream(start)[1]:
            truth.add(r)
            out.write(json.dumps(r.as_shape(shape)) + "\n")
            count += 1
    return count
