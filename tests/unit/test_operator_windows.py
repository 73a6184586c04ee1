"""Windows of AggregationSchedule runs: labels, the window of a fire time, shifting, ranges
(pure logic, expectations by hand)."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from smartwatch_operator.windows import (
    Window,
    WindowError,
    between,
    containing,
    lookback_span,
    of_fire,
    parse_label,
)

pytestmark = pytest.mark.unit
D = date
BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("granularity", "day", "start", "end", "label"), [
    ("daily", D(2026, 11, 27), D(2026, 11, 27), D(2026, 11, 27), "2026-11-27"),
    ("weekly", D(2026, 11, 27), D(2026, 11, 23), D(2026, 11, 29), "2026-W48"),
    ("monthly", D(2026, 11, 27), D(2026, 11, 1), D(2026, 11, 30), "2026-11"),
    # ISO weeks across a year boundary take the ISO year.
    ("weekly", D(2021, 1, 1), D(2020, 12, 28), D(2021, 1, 3), "2020-W53"),
    ("weekly", D(2025, 12, 29), D(2025, 12, 29), D(2026, 1, 4), "2026-W01"),
    ("weekly", D(2026, 1, 4), D(2025, 12, 29), D(2026, 1, 4), "2026-W01"),
    ("weekly", D(2027, 1, 1), D(2026, 12, 28), D(2027, 1, 3), "2026-W53"),
    ("monthly", D(2024, 2, 10), D(2024, 2, 1), D(2024, 2, 29), "2024-02"),
    ("monthly", D(2026, 2, 28), D(2026, 2, 1), D(2026, 2, 28), "2026-02"),
])
def test_containing_and_label(granularity: str, day: date, start: date, end: date,
                              label: str) -> None:
    window = containing(granularity, day)
    assert window == Window(granularity, start, end)
    assert window.label == label
    assert parse_label(granularity, label) == window


@pytest.mark.parametrize(("granularity", "fire", "zone", "label"), [
    # Daily: the day before the fire's local date.
    ("daily", utc(2026, 11, 28, 1, 30), BERLIN, "2026-11-27"),
    # 00:30 local on the 28th is still the 27th in UTC: the local date decides.
    ("daily", utc(2026, 11, 27, 23, 30), BERLIN, "2026-11-27"),
    ("daily", utc(2026, 3, 1, 4, 0), NEW_YORK, "2026-02-27"),   # 23:00 on Feb 28 in New York
    # Weekly: the last whole ISO week before the fire's date.
    ("weekly", utc(2026, 11, 30, 1, 30), BERLIN, "2026-W48"),   # Monday
    ("weekly", utc(2026, 12, 2, 1, 30), BERLIN, "2026-W48"),    # Wednesday: still W48
    ("weekly", utc(2026, 12, 6, 22, 59), BERLIN, "2026-W48"),   # Sunday 23:59 local
    ("weekly", utc(2026, 12, 6, 23, 0), BERLIN, "2026-W49"),    # Monday 00:00 local
    ("weekly", utc(2026, 11, 29, 1, 30), BERLIN, "2026-W47"),   # Sunday of W48
    ("weekly", utc(2021, 1, 4, 0, 30), ZoneInfo("UTC"), "2020-W53"),
    ("weekly", utc(2026, 1, 5, 0, 30), ZoneInfo("UTC"), "2026-W01"),
    ("weekly", utc(2026, 1, 1, 0, 30), ZoneInfo("UTC"), "2025-W52"),
    # Monthly: the last whole calendar month.
    ("monthly", utc(2026, 12, 1, 0, 0), ZoneInfo("UTC"), "2026-11"),
    ("monthly", utc(2026, 11, 15, 12, 0), ZoneInfo("UTC"), "2026-10"),
    # 00:30 on 2026-11-01 in Tokyo is 15:30Z on 2026-10-31: October, not September.
    ("monthly", utc(2026, 10, 31, 15, 30), TOKYO, "2026-10"),
    ("monthly", utc(2025, 12, 31, 15, 30), TOKYO, "2025-12"),
    ("monthly", utc(2026, 3, 1, 0, 0), ZoneInfo("UTC"), "2026-02"),
])
def test_of_fire(granularity: str, fire: datetime, zone: ZoneInfo, label: str) -> None:
    assert of_fire(granularity, fire, zone).label == label


def test_of_fire_window_bounds() -> None:
    assert of_fire("weekly", utc(2026, 1, 5, 0, 30), ZoneInfo("UTC")) == Window(
        "weekly", D(2025, 12, 29), D(2026, 1, 4))
    assert of_fire("monthly", utc(2026, 10, 31, 15, 30), TOKYO) == Window(
        "monthly", D(2026, 10, 1), D(2026, 10, 31))


def test_of_fire_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        of_fire("daily", datetime(2026, 11, 28, 1, 30), BERLIN)


@pytest.mark.parametrize(("granularity", "day", "n", "label"), [
    ("daily", D(2026, 3, 1), -1, "2026-02-28"),
    ("daily", D(2024, 3, 1), -1, "2024-02-29"),
    ("daily", D(2026, 12, 31), 1, "2027-01-01"),
    ("weekly", D(2026, 1, 1), -1, "2025-W52"),
    ("weekly", D(2021, 1, 1), 1, "2021-W01"),
    ("weekly", D(2026, 11, 27), -48, "2025-W52"),
    ("monthly", D(2026, 1, 15), -1, "2025-12"),
    ("monthly", D(2026, 1, 15), -13, "2024-12"),
    ("monthly", D(2026, 11, 30), 14, "2028-01"),
    ("monthly", D(2026, 11, 30), 0, "2026-11"),
])
def test_shift(granularity: str, day: date, n: int, label: str) -> None:
    assert containing(granularity, day).shift(n).label == label


def test_previous_and_next() -> None:
    w48 = containing("weekly", D(2026, 11, 27))
    assert w48.previous == Window("weekly", D(2026, 11, 16), D(2026, 11, 22))
    assert w48.next == Window("weekly", D(2026, 11, 30), D(2026, 12, 6))
    assert containing("monthly", D(2024, 3, 31)).previous == Window("monthly", D(2024, 2, 1),
                                                                     D(2024, 2, 29))


@pytest.mark.parametrize(("granularity", "first", "last", "labels"), [
    ("daily", D(2026, 2, 27), D(2026, 3, 2), ["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"]),
    ("daily", D(2026, 2, 27), D(2026, 2, 27), ["2026-02-27"]),
    ("weekly", D(2026, 11, 27), D(2026, 11, 27), ["2026-W48"]),
    ("weekly", D(2026, 11, 29), D(2026, 11, 30), ["2026-W48", "2026-W49"]),
    ("weekly", D(2020, 12, 31), D(2021, 1, 11), ["2020-W53", "2021-W01", "2021-W02"]),
    ("monthly", D(2026, 11, 30), D(2027, 1, 1), ["2026-11", "2026-12", "2027-01"]),
])
def test_between(granularity: str, first: date, last: date, labels: list[str]) -> None:
    assert [w.label for w in between(granularity, first, last)] == labels


def test_between_refuses_reversed_dates() -> None:
    with pytest.raises(WindowError, match="2026-03-02 is after 2026-03-01"):
        between("daily", D(2026, 3, 2), D(2026, 3, 1))


@pytest.mark.parametrize(("granularity", "day", "n", "span"), [
    ("daily", D(2026, 11, 27), 2, (D(2026, 11, 25), D(2026, 11, 27))),
    ("daily", D(2026, 11, 27), 0, (D(2026, 11, 27), D(2026, 11, 27))),
    ("weekly", D(2026, 11, 27), 1, (D(2026, 11, 16), D(2026, 11, 29))),
    ("monthly", D(2026, 3, 10), 1, (D(2026, 2, 1), D(2026, 3, 31))),
    ("monthly", D(2026, 1, 10), 12, (D(2025, 1, 1), D(2026, 1, 31))),
])
def test_lookback_span(granularity: str, day: date, n: int, span: tuple[date, date]) -> None:
    assert lookback_span(containing(granularity, day), n) == span


def test_lookback_must_not_be_negative() -> None:
    with pytest.raises(WindowError, match="negative"):
        lookback_span(containing("daily", D(2026, 1, 1)), -1)


@pytest.mark.parametrize(("granularity", "label", "message"), [
    ("weekly", "2025-W53", "'2025-W53' is not a weekly window"),   # 2025 has 52 ISO weeks
    ("weekly", "2026-W00", "'2026-W00' is not a weekly window"),
    ("weekly", "2026-w48", "'2026-w48' is not a weekly label like 2026-W48"),
    ("weekly", "2026-11-27", "is not a weekly label"),
    ("monthly", "2026-13", "'2026-13' is not a monthly window"),
    ("monthly", "26-11", "'26-11' is not a monthly label like 2026-11"),
    ("daily", "2026-02-29", "'2026-02-29' is not a daily window"),
    ("daily", "2026-11-27 ", "is not a daily label like 2026-11-27"),
    ("hourly", "2026-11-27", "unknown granularity 'hourly'"),
])
def test_parse_label_errors(granularity: str, label: str, message: str) -> None:
    with pytest.raises(WindowError, match=message):
        parse_label(granularity, label)


@pytest.mark.parametrize(("granularity", "start", "end"), [
    ("weekly", D(2026, 11, 24), D(2026, 11, 30)),    # not a Monday
    ("daily", D(2026, 11, 27), D(2026, 11, 28)),     # two days
    ("monthly", D(2026, 11, 1), D(2026, 11, 29)),    # not the whole month
])
def test_window_must_be_one_whole_period(granularity: str, start: date, end: date) -> None:
    with pytest.raises(WindowError, match="is not one"):
        Window(granularity, start, end)


def test_unknown_granularity() -> None:
    with pytest.raises(WindowError, match="unknown granularity 'hourly'"):
        containing("hourly", D(2026, 1, 1))
