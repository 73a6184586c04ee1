"""Five-field cron expressions and their fire times in an IANA time zone (docs/operator.md).

Fields: minute (0..59), hour (0..23), day-of-month (1..31), month (1..12 or jan..dec),
day-of-week (0..7 or sun..sat, 0 and 7 both Sunday). Each field is a comma-separated list of
`*`, `N`, `A-B`, `*/S` or `A-B/S`; names are case-insensitive and may be range ends (`sun`
ending a range that starts after Sunday is 7, so `fri-sun` works). A single number with a
step (`5/10`) is refused, as in Vixie cron.

Day matching follows Vixie cron: when both day fields are restricted (neither begins with `*`),
a day matches if either matches; otherwise both must match (so `*/2` in day-of-week still
narrows the days of month).

Fire times are wall-clock times in the zone. A wall time that does not exist (spring-forward
gap) fires at the first instant after the gap, once however many matching wall times fall in
that gap; a wall time that occurs twice (fall back) fires once, at its first occurrence.
Expressed as a rule: wall time w fires at the earliest instant whose local time is >= w.

Expressions that can never match (`0 0 31 2 *`: no February has a 31st) are refused by
`Cron.parse` with CronError. Every expression it accepts matches at least once in any 400
years (the Gregorian calendar repeats with that period), so `next_fire` always returns.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
MONTH_NAMES = {name: i for i, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
DAY_NAMES = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# The largest day of each month in any year (February: 29).
MAX_DAYS = {m: 29 if m == 2 else calendar.monthrange(2001, m)[1] for m in range(1, 13)}
SEARCH_YEARS = 400

_ITEM = re.compile(r"^(?P<range>\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/(?P<step>[0-9]+))?$")


class CronError(ValueError):
    """An invalid cron expression; the message names the field and the bad token."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]


_SPECS = (
    _Field("minute", 0, 59, {}),
    _Field("hour", 0, 23, {}),
    _Field("day-of-month", 1, 31, {}),
    _Field("month", 1, 12, MONTH_NAMES),
    _Field("day-of-week", 0, 7, DAY_NAMES),
)


def _value(field: _Field, token: str) -> int:
    if token.isdigit():
        value = int(token)
    elif token in field.names:
        return field.names[token]
    else:
        kind = {"month": "a number or month name", "day-of-week": "a number or day name"}
        raise CronError(f"{field.name}: {token} is not {kind.get(field.name, 'a number')}")
    if not field.low <= value <= field.high:
        raise CronError(f"{field.name}: {token} is out of range {field.low}..{field.high}")
    return value


def _parse_field(field: _Field, text: str) -> frozenset[int]:
    values: set[int] = set()
    for item in text.lower().split(","):
        match = _ITEM.match(item)
        if not match:
            raise CronError(f"{field.name}: {item or 'an empty list item'} is not *, N, A-B, "
                            "*/S or A-B/S")
        span, step_text = match["range"], match["step"]
        if span == "*":
            first, last = field.low, field.high
        elif "-" in span:
            a, b = span.split("-")
            first, last = _value(field, a), _value(field, b)
            if field.name == "day-of-week" and b == "sun" and first > 0:
                last = 7  # `fri-sun`
            if first > last:
                raise CronError(f"{field.name}: {item} is an empty range ({first} > {last})")
        else:
            if step_text is not None:
                raise CronError(f"{field.name}: {item} has a step but no range (write "
                                f"{span}-{field.high}/{step_text})")
            first = last = _value(field, span)
        step = 1 if step_text is None else int(step_text)
        if step == 0:
            raise CronError(f"{field.name}: {item} has step 0")
        values.update(range(first, last + 1, step))
    if field.name == "day-of-week" and 7 in values:
        values = (values - {7}) | {0}
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression: the matching values of each field."""

    expr: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: tuple[int, ...]
    weekdays: frozenset[int]  # 0 = Sunday .. 6 = Saturday
    days_or: bool  # both day fields restricted: either may match

    @classmethod
    def parse(cls, expr: str) -> Cron:
        """Parse a five-field expression; raise CronError naming the field and bad token."""
        parts = expr.split()
        if len(parts) != 5:
            raise CronError(f"expected 5 fields ({' '.join(FIELDS)}), got {len(parts)}: {expr!r}")
        minutes, hours, days, months, weekdays = (
            _parse_field(spec, part) for spec, part in zip(_SPECS, parts, strict=True))
        cron = cls(expr=" ".join(parts), minutes=tuple(sorted(minutes)),
                   hours=tuple(sorted(hours)), days=days, months=tuple(sorted(months)),
                   weekdays=weekdays,
                   days_or=not parts[2].startswith("*") and not parts[4].startswith("*"))
        if not cron.days_or and not any(d <= MAX_DAYS[m] for m in cron.months for d in cron.days):
            raise CronError(f"day-of-month: {parts[2]} never occurs in month {parts[3]}, "
                            "so the expression never matches")
        return cron

    def __str__(self) -> str:
        return self.expr

    def matches_day(self, day: date) -> bool:
        """Whether the day fields (and the month) match a local date."""
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = day.isoweekday() % 7 in self.weekdays
        return (dom or dow) if self.days_or else (dom and dow)

    def matches(self, wall: datetime) -> bool:
        """Whether a local wall-clock time (its tzinfo ignored) matches, to the minute."""
        return wall.minute in self.minutes and wall.hour in self.hours and self.matches_day(wall.date())

    def days_from(self, first: date) -> Iterator[date]:
        """Matching local dates from `first` on, in order, visiting only the matching months
        (and, unless either day field may match, only the matching days of month)."""
        candidates = range(1, 32) if self.days_or else sorted(self.days)
        for year in range(first.year, date.max.year + 1):
            for month in self.months:
                if (year, month) < (first.year, first.month):
                    continue
                start = first.day if (year, month) == (first.year, first.month) else 1
                length = calendar.monthrange(year, month)[1]
                for day in candidates:
                    if start <= day <= length and self.matches_day(date(year, month, day)):
                        yield date(year, month, day)


def wall_to_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant at which a naive local wall time fires: the time itself; its first
    occurrence if it happens twice; the end of the gap if it does not exist."""
    early = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    late = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if early <= late:
        return early
    # In a gap: fold=1 reads the wall time with the offset after the transition (an instant
    # before the gap), fold=0 with the offset before it (an instant after the gap). The gap
    # ends at the first whole second whose local time is >= wall.
    lo, hi = int(late.timestamp()), int(early.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def fire_times(cron: Cron, zone: ZoneInfo, after: datetime, until: datetime) -> Iterator[datetime]:
    """The fire times strictly after `after` and at most `until`, as aware UTC datetimes in
    increasing order (each instant once)."""
    if after.tzinfo is None or until.tzinfo is None:
        raise ValueError("after and until must be timezone-aware")
    # From the day before: a nonexistent wall time late on the previous local date can fire
    # after midnight.
    first_day = after.astimezone(zone).date() - timedelta(days=1)
    last = after
    last_hour, last_minute = cron.hours[-1], cron.minutes[-1]
    for day in cron.days_from(first_day):
        # The mapping from wall time to instant never decreases: skip a day or an hour at once
        # when its latest matching wall time fires no later than the last yielded instant.
        if _fires(day, last_hour, last_minute, zone) <= last:
            continue
        for hour in cron.hours:
            if _fires(day, hour, last_minute, zone) <= last:
                continue
            for minute in cron.minutes:
                instant = _fires(day, hour, minute, zone)
                if instant > until:
                    return
                if instant > last:
                    last = instant
                    yield instant


def _fires(day: date, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    return wall_to_instant(datetime(day.year, day.month, day.day, hour, minute), zone)


def next_fire(cron: Cron, zone: ZoneInfo, after: datetime) -> datetime:
    """The first fire time strictly after `after` (aware UTC)."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    limit = datetime(min(after.year + SEARCH_YEARS + 1, date.max.year), 1, 1, tzinfo=UTC)
    for instant in fire_times(cron, zone, after, limit):
        return instant
    raise CronError(f"{cron.expr!r} has no fire time within {SEARCH_YEARS} years after {after}")
