"""Aggregation windows: one whole period of a granularity, in local dates (docs/operator.md).

A daily window is one local date, a weekly window one ISO week (Monday to Sunday, labelled
with its ISO year, so 2021-01-01 is in 2020-W53), a monthly window one calendar month: the
same periods as `smartwatch aggregate` (smartwatch_jobs.aggregate.align).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

GRANULARITIES = ("daily", "weekly", "monthly")
_LABELS = {"daily": re.compile(r"(\d{4})-(\d{2})-(\d{2})"),
           "weekly": re.compile(r"(\d{4})-W(\d{2})"),
           "monthly": re.compile(r"(\d{4})-(\d{2})")}


class WindowError(ValueError):
    """An unknown granularity, a malformed label or dates that are not one whole period."""


def _bounds(granularity: str, day: date) -> tuple[date, date]:
    if granularity == "daily":
        return day, day
    if granularity == "weekly":
        monday = day - timedelta(days=day.isoweekday() - 1)
        return monday, monday + timedelta(days=6)
    if granularity == "monthly":
        return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])
    raise WindowError(f"unknown granularity {granularity!r}; choose {', '.join(GRANULARITIES)}")


@dataclass(frozen=True)
class Window:
    """One whole period: `start` is its first local date, `end` its last (inclusive)."""

    granularity: str
    start: date
    end: date

    def __post_init__(self) -> None:
        if _bounds(self.granularity, self.start) != (self.start, self.end):
            raise WindowError(f"{self.start}..{self.end} is not one {self.granularity} period")

    @property
    def label(self) -> str:
        """`2026-11-27` (daily), `2026-W48` (weekly, ISO year and week), `2026-11` (monthly)."""
        if self.granularity == "daily":
            return self.start.isoformat()
        if self.granularity == "weekly":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.start.year}-{self.start.month:02d}"

    def shift(self, n: int) -> Window:
        """The window n periods later (n < 0: earlier)."""
        if self.granularity == "daily":
            return containing("daily", self.start + timedelta(days=n))
        if self.granularity == "weekly":
            return containing("weekly", self.start + timedelta(weeks=n))
        months = self.start.year * 12 + self.start.month - 1 + n
        return containing("monthly", date(months // 12, months % 12 + 1, 1))

    @property
    def previous(self) -> Window:
        return self.shift(-1)

    @property
    def next(self) -> Window:
        return self.shift(1)


def containing(granularity: str, day: date) -> Window:
    """The window of the granularity that contains a local date."""
    start, end = _bounds(granularity, day)
    return Window(granularity, start, end)


def of_fire(granularity: str, fire: datetime, zone: ZoneInfo) -> Window:
    """The window a fire time computes: the last whole period that ended before the fire's
    local date in `zone` (the period before the one containing that date). A fire on
    Wednesday 2026-12-02 of a weekly schedule gives the week of Monday 2026-11-23."""
    if fire.tzinfo is None:
        raise ValueError("fire must be timezone-aware")
    return containing(granularity, fire.astimezone(zone).date()).previous


def between(granularity: str, first: date, last: date) -> list[Window]:
    """Every window overlapping the local dates [first, last], oldest first."""
    if first > last:
        raise WindowError(f"{first} is after {last}")
    windows = [containing(granularity, first)]
    while windows[-1].end < last:
        windows.append(windows[-1].next)
    return windows


def lookback_span(window: Window, n: int) -> tuple[date, date]:
    """The dates a lookback run of `window` covers: from the start of the window n periods
    earlier to the end of `window`."""
    if n < 0:
        raise WindowError(f"lookback {n} is negative")
    return window.shift(-n).start, window.end


def parse_label(granularity: str, label: str) -> Window:
    """The window a label names (the inverse of Window.label)."""
    if granularity not in _LABELS:
        raise WindowError(f"unknown granularity {granularity!r}; choose {', '.join(GRANULARITIES)}")
    match = _LABELS[granularity].fullmatch(label)
    if not match:
        example = {"daily": "2026-11-27", "weekly": "2026-W48", "monthly": "2026-11"}[granularity]
        raise WindowError(f"{label!r} is not a {granularity} label like {example}")
    numbers = [int(g) for g in match.groups()]
    try:
        if granularity == "daily":
            day = date(*numbers)
        elif granularity == "weekly":
            day = date.fromisocalendar(numbers[0], numbers[1], 1)
        else:
            day = date(numbers[0], numbers[1], 1)
    except ValueError as exc:
        raise WindowError(f"{label!r} is not a {granularity} window: {exc}") from None
    return containing(granularity, day)
