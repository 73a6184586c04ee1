"""Cron expressions of AggregationSchedule and their fire times across DST (pure logic,
expectations by hand)."""

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from smartwatch_operator.cron import Cron, CronError, fire_times, next_fire

pytestmark = pytest.mark.unit

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
Z = ZoneInfo("UTC")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("expr", "minutes", "hours", "days", "months", "weekdays"), [
    ("*/15 * * * *", (0, 15, 30, 45), tuple(range(24)), set(range(1, 32)), tuple(range(1, 13)),
     {0, 1, 2, 3, 4, 5, 6}),
    ("1-10/2 9-17/4 1,15 * *", (1, 3, 5, 7, 9), (9, 13, 17), {1, 15}, tuple(range(1, 13)),
     {0, 1, 2, 3, 4, 5, 6}),
    ("0 0 * jan,Mar-MAY MON-fri", (0,), (0,), set(range(1, 32)), (1, 3, 4, 5), {1, 2, 3, 4, 5}),
    ("0 0 * * 7", (0,), (0,), set(range(1, 32)), tuple(range(1, 13)), {0}),
    ("0 0 * * 5-7", (0,), (0,), set(range(1, 32)), tuple(range(1, 13)), {5, 6, 0}),
    ("0 0 * * fri-sun", (0,), (0,), set(range(1, 32)), tuple(range(1, 13)), {5, 6, 0}),
    ("0 0 * * sun-sun", (0,), (0,), set(range(1, 32)), tuple(range(1, 13)), {0}),
    ("0 0 * * */2", (0,), (0,), set(range(1, 32)), tuple(range(1, 13)), {0, 2, 4, 6}),
    ("59 23 31 dec sat", (59,), (23,), {31}, (12,), {6}),
    ("0,30 2,3 * * *", (0, 30), (2, 3), set(range(1, 32)), tuple(range(1, 13)),
     {0, 1, 2, 3, 4, 5, 6}),
])
def test_parse_fields(expr: str, minutes: tuple, hours: tuple, days: set, months: tuple,
                      weekdays: set) -> None:
    cron = Cron.parse(expr)
    assert (cron.minutes, cron.hours, set(cron.days), cron.months, set(cron.weekdays)) == (
        minutes, hours, days, months, weekdays)


@pytest.mark.parametrize(("expr", "days_or"), [
    ("0 0 13 * fri", True),      # both restricted: either matches
    ("0 0 1-31 * 1", True),      # a range is a restriction even when it covers everything
    ("0 0 * * fri", False),
    ("0 0 13 * *", False),
    ("0 0 */2 * fri", False),    # a field starting with * counts as unrestricted (Vixie)
])
def test_day_fields_combine_as_in_vixie_cron(expr: str, days_or: bool) -> None:
    assert Cron.parse(expr).days_or is days_or


def test_expression_is_normalised() -> None:
    assert str(Cron.parse("  30\t2 *  * *  ")) == "30 2 * * *"


@pytest.mark.parametrize(("expr", "message"), [
    ("61 * * * *", "minute: 61 is out of range 0..59"),
    ("0 24 * * *", "hour: 24 is out of range 0..23"),
    ("0 0 0 * *", "day-of-month: 0 is out of range 1..31"),
    ("0 0 32 * *", "day-of-month: 32 is out of range 1..31"),
    ("0 0 * 13 *", "month: 13 is out of range 1..12"),
    ("0 0 * * 8", "day-of-week: 8 is out of range 0..7"),
    ("5-61 * * * *", "minute: 61 is out of range 0..59"),
    ("0 0 * foo *", "month: foo is not a number or month name"),
    ("0 0 * * mon-xyz", "day-of-week: xyz is not a number or day name"),
    ("0 0 mon * *", "day-of-month: mon is not a number"),
    ("0 0 * * jan", "day-of-week: jan is not a number or day name"),
    ("5/10 * * * *", "minute: 5/10 has a step but no range (write 5-59/10)"),
    ("*/0 * * * *", "minute: */0 has step 0"),
    ("10-5 * * * *", "minute: 10-5 is an empty range (10 > 5)"),
    ("1,,2 * * * *", "minute: an empty list item is not *, N, A-B, */S or A-B/S"),
    ("1-2-3 * * * *", "minute: 1-2-3 is not *, N, A-B, */S or A-B/S"),
    ("-1 * * * *", "minute: -1 is not *, N, A-B, */S or A-B/S"),
    ("* * * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 4: '* * * *'"),
    ("* * * * * *", "expected 5 fields"),
    ("", "expected 5 fields (minute hour day-of-month month day-of-week), got 0"),
    ("@daily", "expected 5 fields"),
    ("0 0 31 2 *", "day-of-month: 31 never occurs in month 2, so the expression never matches"),
    ("0 0 30,31 feb *", "day-of-month: 30,31 never occurs in month feb"),
    ("0 0 31 4,6,9,11 *", "day-of-month: 31 never occurs in month 4,6,9,11"),
])
def test_parse_errors_name_field_and_token(expr: str, message: str) -> None:
    with pytest.raises(CronError) as err:
        Cron.parse(expr)
    assert str(err.value).startswith(message)


def test_cron_error_is_a_value_error() -> None:
    assert issubclass(CronError, ValueError)


def test_day_restricted_only_with_a_star_weekday_step_is_accepted() -> None:
    # AND with every seventh weekday: Feb 29 on a Sunday exists (2032), so it is valid.
    assert Cron.parse("0 0 29 2 */7").weekdays == {0}


# --- fire times -------------------------------------------------------------------------------
@pytest.mark.parametrize(("expr", "zone", "after", "until", "expected"), [
    # Every 15 minutes: strictly after `after`, up to and including `until`.
    ("*/15 * * * *", Z, utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 1, 0),
     [utc(2026, 1, 1, 0, 15), utc(2026, 1, 1, 0, 30), utc(2026, 1, 1, 0, 45), utc(2026, 1, 1, 1, 0)]),
    ("*/15 * * * *", Z, utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 0), []),
    ("*/15 * * * *", Z, utc(2026, 1, 1, 1, 0), utc(2026, 1, 1, 0, 0), []),
    # Berlin springs forward on 2026-03-29 at 01:00Z (02:00 CET -> 03:00 CEST): 02:30 does not
    # exist and fires at 03:00 CEST = 01:00Z.
    ("30 2 * * *", BERLIN, utc(2026, 3, 27, 12), utc(2026, 3, 31),
     [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)]),
    # Four nonexistent wall times in the same gap fire once.
    ("*/15 2 * * *", BERLIN, utc(2026, 3, 28, 12), utc(2026, 3, 29, 12), [utc(2026, 3, 29, 1, 0)]),
    # 02:00 and 02:30 do not exist, 03:00 is the gap's end: one fire at 01:00Z, then 03:30 CEST.
    ("0,30 2,3 * * *", BERLIN, utc(2026, 3, 28, 12), utc(2026, 3, 29, 12),
     [utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 1, 30)]),
    # Berlin falls back on 2026-10-25 at 01:00Z (03:00 CEST -> 02:00 CET): 02:30 happens twice
    # and fires once, at its first occurrence (CEST, 00:30Z).
    ("30 2 * * *", BERLIN, utc(2026, 10, 23, 12), utc(2026, 10, 26, 12),
     [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]),
    ("*/30 1-2 * * *", BERLIN, utc(2026, 10, 24, 12), utc(2026, 10, 25, 12),
     [utc(2026, 10, 24, 23, 0), utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 0, 0),
      utc(2026, 10, 25, 0, 30)]),
    # New York springs forward on 2026-03-08 at 07:00Z (02:00 EST -> 03:00 EDT).
    ("30 2 * * *", NEW_YORK, utc(2026, 3, 6, 12), utc(2026, 3, 9, 12),
     [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 0), utc(2026, 3, 9, 6, 30)]),
    # New York falls back on 2026-11-01 at 06:00Z (02:00 EDT -> 01:00 EST).
    ("30 1 * * *", NEW_YORK, utc(2026, 10, 30, 12), utc(2026, 11, 2, 12),
     [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]),
    # Hourly over the fall back: the second 01:00 (EST, 06:00Z) does not fire.
    ("0 * * * *", NEW_YORK, utc(2026, 11, 1, 4, 30), utc(2026, 11, 1, 8, 30),
     [utc(2026, 11, 1, 5, 0), utc(2026, 11, 1, 7, 0), utc(2026, 11, 1, 8, 0)]),
    # Both day fields restricted: the 13th (a Sunday) or any Friday of December 2026.
    ("0 12 13 * fri", Z, utc(2026, 12, 1), utc(2027, 1, 1),
     [utc(2026, 12, 4, 12), utc(2026, 12, 11, 12), utc(2026, 12, 13, 12), utc(2026, 12, 18, 12),
      utc(2026, 12, 25, 12)]),
    # Day-of-month starts with *: both must match, odd days that are Fridays.
    ("0 12 */2 * fri", Z, utc(2026, 12, 1), utc(2027, 1, 1),
     [utc(2026, 12, 11, 12), utc(2026, 12, 25, 12)]),
    # Names: weekdays at 09:00 in Tokyo (00:00Z), after Friday 2026-12-04.
    ("0 9 * * Mon-FRI", TOKYO, utc(2026, 12, 4, 0), utc(2026, 12, 9, 0),
     [utc(2026, 12, 7, 0), utc(2026, 12, 8, 0), utc(2026, 12, 9, 0)]),
    ("0 0 1 jan,jul *", Z, utc(2026, 1, 1), utc(2027, 12, 31),
     [utc(2026, 7, 1), utc(2027, 1, 1), utc(2027, 7, 1)]),
])
def test_fire_times(expr: str, zone: ZoneInfo, after: datetime, until: datetime,
                    expected: list[datetime]) -> None:
    got = list(fire_times(Cron.parse(expr), zone, after, until))
    assert got == expected
    assert all(t.tzinfo is UTC for t in got)


@pytest.mark.parametrize(("expr", "zone", "after", "expected"), [
    ("0 0 29 2 *", Z, utc(2026, 3, 1), utc(2028, 2, 29)),
    ("0 0 29 2 *", Z, utc(2028, 2, 29), utc(2032, 2, 29)),
    ("0 0 29 2 *", BERLIN, utc(2026, 3, 1), utc(2028, 2, 28, 23)),
    # Feb 29 on a Sunday: 2032, then 28 years later.
    ("0 0 29 2 */7", Z, utc(2026, 1, 1), utc(2032, 2, 29)),
    ("0 0 29 2 */7", Z, utc(2032, 3, 1), utc(2060, 2, 29)),
    ("* * * * *", Z, utc(2026, 12, 31, 23, 59, 30), utc(2027, 1, 1)),
    ("30 2 * * *", BERLIN, utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 0)),
    # An offset-aware `after` in another zone means the same instant.
    ("30 2 * * *", BERLIN, datetime(2026, 3, 28, 11, 0, tzinfo=TOKYO), utc(2026, 3, 29, 1, 0)),
])
def test_next_fire(expr: str, zone: ZoneInfo, after: datetime, expected: datetime) -> None:
    assert next_fire(Cron.parse(expr), zone, after) == expected


def test_next_fire_of_rare_dates_is_fast() -> None:
    crons = [Cron.parse("0 0 29 2 *"), Cron.parse("0 0 29 2 */7"), Cron.parse("* * * * *")]
    started = time.perf_counter()
    for cron in crons:
        for year in range(2000, 2100, 10):
            next_fire(cron, BERLIN, utc(year, 3, 1, 22, 59))
    assert time.perf_counter() - started < 2


def test_naive_datetimes_are_refused() -> None:
    cron = Cron.parse("* * * * *")
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fire(cron, Z, datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        list(fire_times(cron, Z, utc(2026, 1, 1), datetime(2026, 1, 2)))


def test_matches_reads_wall_time() -> None:
    cron = Cron.parse("30 2 13 * fri")
    assert cron.matches(datetime(2026, 11, 13, 2, 30))      # the 13th
    assert cron.matches(datetime(2026, 11, 6, 2, 30))       # a Friday
    assert not cron.matches(datetime(2026, 11, 7, 2, 30))   # neither
    assert not cron.matches(datetime(2026, 11, 13, 2, 31))
