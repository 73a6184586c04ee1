"""Ownership and zone history, as spans: who held a device, and in which zone they lived, over
which instants. Pure logic, shared by the registry (what an import changes) and the
aggregation (which owner and zone a reading gets).

A device's first owner holds its readings from before that owner's `since` too (a watch that
syncs its history after pairing), and a user's first zone applies before its `since`: the
first span of each is open to the past. Each later entry starts a span at its `since`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """The owner and zone of a device from `start` (None: open to the past) until `end` (None:
    open to the future)."""

    device_id: str
    user_id: str
    time_zone: str
    start: dt.datetime | None
    end: dt.datetime | None


def _intervals(entries: list[tuple[str, dt.datetime]]
               ) -> list[tuple[str, dt.datetime | None, dt.datetime | None]]:
    """(value, since) entries -> (value, start, end) intervals: the first open to the past,
    the last to the future; an entry equal to the one before it extends it."""
    out: list[tuple[str, dt.datetime | None, dt.datetime | None]] = []
    for i, (value, since) in enumerate(sorted(entries, key=lambda e: e[1])):
        if out and out[-1][0] == value:
            continue
        if out:
            out[-1] = (out[-1][0], out[-1][1], since)
        out.append((value, None if i == 0 else since, None))
    return out


def in_effect(entries: Iterable[tuple[str, dt.datetime]], at: dt.datetime) -> str | None:
    """The value of (value, since) entries in effect at `at`: the latest entry since at or
    before it, else the first (open to the past); None without entries."""
    for value, start, end in _intervals(list(entries)):
        if (start is None or start <= at) and (end is None or at < end):
            return value
    return None


def spans(owners: Iterable[tuple[str, str, dt.datetime]],
          zones: Iterable[tuple[str, str, dt.datetime]]) -> list[Span]:
    """The spans of every owned device. `owners`: (device_id, user_id, since) entries;
    `zones`: (user_id, time_zone, since) entries. A span ends where the device changes hands
    or its owner moves; a user without zone entries is in UTC."""
    by_device: dict[str, list[tuple[str, dt.datetime]]] = {}
    for device, user, since in owners:
        by_device.setdefault(device, []).append((user, since))
    by_user: dict[str, list[tuple[str, dt.datetime]]] = {}
    for user, zone, since in zones:
        by_user.setdefault(user, []).append((zone, since))
    zone_intervals = {u: _intervals(e) for u, e in by_user.items()}
    out = []
    for device in sorted(by_device):
        for user, start, end in _intervals(by_device[device]):
            for zone, z_start, z_end in zone_intervals.get(user, [("UTC", None, None)]):
                lo = start if z_start is None else z_start if start is None else max(start, z_start)
                hi = end if z_end is None else z_end if end is None else min(end, z_end)
                if lo is None or hi is None or lo < hi:
                    out.append(Span(device, user, zone, lo, hi))
    return out
