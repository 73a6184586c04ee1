"""The aggregation's domain, defined once: granularities, their periods and windows, and the
aggregate measures (docs/architecture.md).

A day is a local calendar date; a week an ISO week, Monday to Sunday, labelled with its ISO
year (2021-01-01 is in 2020-W53); a month a calendar month. A window is whole periods of one
granularity, in local dates. Each granularity has a table (`daily_aggregates` ...) keyed by
user_id and its period's columns; every table carries the same measures.

Used by the jobs, the operator, the API and the CLI: this module imports nothing but the
standard library. A new granularity or measure is a change here plus a migration (the tests
of this module check the migrations and the CRD against it).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, get_args
from zoneinfo import ZoneInfo

GranularityName = Literal["daily", "weekly", "monthly"]
GRANULARITIES: tuple[GranularityName, ...] = get_args(GranularityName)


class WindowError(ValueError):
    """An unknown granularity, a malformed label or dates that are not whole periods,
    reported before any work starts."""


# --- granularities ------------------------------------------------------------------------------
USER_KEY = ("user_id", "text")  # the first key column of every aggregate table


@dataclass(frozen=True)
class Granularity:
    """One granularity: its table's columns and how its periods are bounded, shifted and
    labelled. `period_keys`: the period's key columns with their Postgres types; the first
    day of the period is `period_column`, by which the table is partitioned and replaced."""

    name: str
    period_keys: tuple[tuple[str, str], ...]
    period_column: str
    label_example: str
    label_pattern: re.Pattern[str]
    bounds: Callable[[dt.date], tuple[dt.date, dt.date]]  # the period containing a date
    shifted: Callable[[dt.date, int], dt.date]  # a period's first day, n periods later
    label_of: Callable[[dt.date], str]  # the label of the period starting on a date
    start_of_label: Callable[[list[int]], dt.date]  # the numbers of a label: its first day

    @property
    def table(self) -> str:
        return f"{self.name}_aggregates"

    @property
    def keys(self) -> tuple[str, ...]:
        """The table's key columns: user_id, then the period's."""
        return (USER_KEY[0], *(name for name, _ in self.period_keys))



def _week(day: dt.date) -> tuple[dt.date, dt.date]:
    monday = day - dt.timedelta(days=day.isoweekday() - 1)
    return monday, monday + dt.timedelta(days=6)


def _month(day: dt.date) -> tuple[dt.date, dt.date]:
    return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _months_later(start: dt.date, n: int) -> dt.date:
    months = start.year * 12 + start.month - 1 + n
    return dt.date(months // 12, months % 12 + 1, 1)


def _iso_week_label(start: dt.date) -> str:
    year, week, _ = start.isocalendar()
    return f"{year}-W{week:02d}"


DAILY = Granularity(
    "daily", period_keys=(("local_date", "date"),), period_column="local_date",
    label_example="2026-11-27", label_pattern=re.compile(r"(\d{4})-(\d{2})-(\d{2})"),
    bounds=lambda day: (day, day), shifted=lambda start, n: start + dt.timedelta(days=n),
    label_of=dt.date.isoformat, start_of_label=lambda numbers: dt.date(*numbers))
WEEKLY = Granularity(
    "weekly", period_keys=(("iso_year", "integer"), ("iso_week", "integer"),
                           ("week_start", "date")), period_column="week_start",
    label_example="2026-W48", label_pattern=re.compile(r"(\d{4})-W(\d{2})"),
    bounds=_week, shifted=lambda start, n: start + dt.timedelta(weeks=n),
    label_of=_iso_week_label,
    start_of_label=lambda numbers: dt.date.fromisocalendar(numbers[0], numbers[1], 1))
MONTHLY = Granularity(
    "monthly", period_keys=(("year", "integer"), ("month", "integer"), ("month_start", "date")),
    period_column="month_start",
    label_example="2026-11", label_pattern=re.compile(r"(\d{4})-(\d{2})"),
    bounds=_month, shifted=_months_later,
    label_of=lambda start: f"{start.year}-{start.month:02d}",
    start_of_label=lambda numbers: dt.date(numbers[0], numbers[1], 1))
SPECS: dict[str, Granularity] = {g.name: g for g in (DAILY, WEEKLY, MONTHLY)}


def granularity(name: str) -> Granularity:
    """The granularity of a name; WindowError for an unknown one."""
    try:
        return SPECS[name]
    except KeyError:
        raise WindowError(f"unknown granularity {name!r}; choose "
                          f"{', '.join(GRANULARITIES)}") from None


# --- measures -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Measure:
    """A figure of a set of readings, a column of every aggregate table. `combine`: how the
    figures of two sets of readings give the figure of both (None for an average, which is
    `average_of`'s sum over its count, never an average of averages)."""

    name: str
    pg_type: str
    combine: Literal["sum", "min", "max"] | None
    average_of: tuple[str, str] | None = None  # (sum, count)


MEASURE_LIST = (
    Measure("total_steps", "bigint", "sum"),
    Measure("hr_samples", "bigint", "sum"),
    Measure("hr_sum", "double precision", "sum"),
    Measure("avg_hr", "double precision", None, ("hr_sum", "hr_samples")),
    Measure("min_hr", "double precision", "min"),
    Measure("max_hr", "double precision", "max"),
    Measure("sleep_hr_samples", "bigint", "sum"),
    Measure("sleep_hr_sum", "double precision", "sum"),
    Measure("avg_sleep_hr", "double precision", None, ("sleep_hr_sum", "sleep_hr_samples")),
    Measure("readings", "bigint", "sum"),
    Measure("first_at", "timestamptz", "min"),
    Measure("last_at", "timestamptz", "max"),
)
MEASURES = tuple(m.name for m in MEASURE_LIST)  # in the tables' column order
COMBINE = {m.name: m.combine for m in MEASURE_LIST if m.combine}
AVERAGES = {m.name: m.average_of for m in MEASURE_LIST if m.average_of}
# The columns every row carries after its keys and measures: when, and by which run.
RUN_COLUMNS = ("computed_at", "run")
# The Postgres type of every column of the aggregate tables.
PG_TYPES = dict([USER_KEY, *(k for g in SPECS.values() for k in g.period_keys),
                 *((m.name, m.pg_type) for m in MEASURE_LIST),
                 ("computed_at", "timestamptz"), ("run", "text")])


# --- windows ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Window:
    """Whole periods of one granularity: `start` is the first local date of the first period,
    `end` the last of the last (inclusive). Most windows the operator makes are one period
    (one_period); a run of the job may cover several."""

    granularity: str
    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        spec = granularity(self.granularity)
        if (self.start > self.end or spec.bounds(self.start)[0] != self.start
                or spec.bounds(self.end)[1] != self.end):
            raise WindowError(f"{self.start}..{self.end} is not whole {self.granularity} "
                              "periods")

    @property
    def spec(self) -> Granularity:
        return SPECS[self.granularity]

    @property
    def is_one_period(self) -> bool:
        return self.spec.bounds(self.start)[1] == self.end

    @property
    def label(self) -> str:
        """`2026-11-27` (daily), `2026-W48` (weekly, ISO year and week), `2026-11` (monthly);
        `FIRST..LAST` for several periods."""
        first = self.spec.label_of(self.start)
        if self.is_one_period:
            return first
        return f"{first}..{self.spec.label_of(self.spec.bounds(self.end)[0])}"

    @property
    def utc_dates(self) -> tuple[dt.date, dt.date]:
        """UTC dates whose readings can fall in the window in some zone (UTC-12..UTC+14)."""
        return self.start - dt.timedelta(days=1), self.end + dt.timedelta(days=1)

    def shift(self, n: int) -> Window:
        """The window n periods later (n < 0: earlier)."""
        spec = self.spec
        start = spec.shifted(self.start, n)
        last = spec.shifted(spec.bounds(self.end)[0], n) if not self.is_one_period else start
        return Window(self.granularity, start, spec.bounds(last)[1])

    @property
    def previous(self) -> Window:
        return self.shift(-1)

    @property
    def next(self) -> Window:
        return self.shift(1)


def containing(granularity_name: str, day: dt.date) -> Window:
    """The one-period window of the granularity that contains a local date."""
    start, end = granularity(granularity_name).bounds(day)
    return Window(granularity_name, start, end)


def one_period(granularity_name: str, start: dt.date, end: dt.date) -> Window:
    """The window of exactly one whole period; WindowError for any other dates."""
    if granularity(granularity_name).bounds(start) != (start, end):
        raise WindowError(f"{start}..{end} is not one {granularity_name} period")
    return Window(granularity_name, start, end)


def align(granularity_name: str, start: dt.date, end: dt.date) -> Window:
    """The window of whole periods covering the local dates [start, end]."""
    spec = granularity(granularity_name)
    if start > end:
        raise WindowError(f"--from {start} is after --to {end}")
    return Window(granularity_name, spec.bounds(start)[0], spec.bounds(end)[1])


def merge_windows(granularity_name: str, local_dates: Iterable[dt.date]) -> list[Window]:
    """Contiguous windows of whole periods covering the given local dates."""
    periods = sorted({align(granularity_name, d, d) for d in local_dates}, key=lambda w: w.start)
    merged: list[Window] = []
    for w in periods:
        if merged and w.start <= merged[-1].end + dt.timedelta(days=1):
            merged[-1] = Window(granularity_name, merged[-1].start, max(merged[-1].end, w.end))
        else:
            merged.append(w)
    return merged


def between(granularity_name: str, first: dt.date, last: dt.date) -> list[Window]:
    """Every one-period window overlapping the local dates [first, last], oldest first."""
    if first > last:
        raise WindowError(f"{first} is after {last}")
    windows = [containing(granularity_name, first)]
    while windows[-1].end < last:
        windows.append(windows[-1].next)
    return windows


def of_fire(granularity_name: str, fire: dt.datetime, zone: ZoneInfo) -> Window:
    """The window a schedule's fire time computes: the last whole period that ended before
    the fire's local date in `zone` (the period before the one containing that date). A fire
    on Wednesday 2026-12-02 of a weekly schedule gives the week of Monday 2026-11-23."""
    if fire.tzinfo is None:
        raise ValueError("fire must be timezone-aware")
    return containing(granularity_name, fire.astimezone(zone).date()).previous


def lookback_span(window: Window, n: int) -> tuple[dt.date, dt.date]:
    """The dates a lookback run of `window` covers: from the start of the window n periods
    earlier to the end of `window`."""
    if n < 0:
        raise WindowError(f"lookback {n} is negative")
    return window.shift(-n).start, window.end


def parse_label(granularity_name: str, label: str) -> Window:
    """The one-period window a label names (the inverse of Window.label)."""
    spec = granularity(granularity_name)
    match = spec.label_pattern.fullmatch(label)
    if not match:
        raise WindowError(f"{label!r} is not a {granularity_name} label like "
                          f"{spec.label_example}")
    try:
        day = spec.start_of_label([int(g) for g in match.groups()])
    except ValueError as exc:
        raise WindowError(f"{label!r} is not a {granularity_name} window: {exc}") from None
    return containing(granularity_name, day)
