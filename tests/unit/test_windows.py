"""Aggregation windows: whole periods, merged (pure logic, expectations by hand)."""

import datetime as dt

import pytest

from smartwatch_jobs.aggregate import AggWindow, WindowError, align, merge_windows

pytestmark = pytest.mark.unit
D = dt.date


def test_align_to_whole_periods() -> None:
    assert align("daily", D(2026, 3, 8), D(2026, 3, 9)) == AggWindow("daily", D(2026, 3, 8),
                                                                     D(2026, 3, 9))
    # 2021-01-01 is a Friday of ISO week 2020-W53 (Monday 2020-12-28 .. Sunday 2021-01-03).
    assert align("weekly", D(2021, 1, 1), D(2021, 1, 1)) == AggWindow(
        "weekly", D(2020, 12, 28), D(2021, 1, 3))
    assert align("monthly", D(2024, 2, 10), D(2024, 2, 10)) == AggWindow(
        "monthly", D(2024, 2, 1), D(2024, 2, 29))


def test_utc_dates_cover_every_zone() -> None:
    assert align("daily", D(2026, 1, 1), D(2026, 1, 1)).utc_dates == (D(2025, 12, 31),
                                                                     D(2026, 1, 2))


@pytest.mark.parametrize(("granularity", "start", "end", "message"), [
    ("hourly", D(2026, 1, 1), D(2026, 1, 2), "unknown granularity 'hourly'"),
    ("daily", D(2026, 1, 2), D(2026, 1, 1), "--from 2026-01-02 is after --to 2026-01-01"),
])
def test_invalid_windows(granularity, start, end, message) -> None:
    with pytest.raises(WindowError, match=message):
        align(granularity, start, end)


def test_merge_windows() -> None:
    days = [D(2026, 3, 1), D(2026, 3, 2), D(2026, 3, 3), D(2026, 3, 10)]
    assert merge_windows("daily", days) == [AggWindow("daily", D(2026, 3, 1), D(2026, 3, 3)),
                                            AggWindow("daily", D(2026, 3, 10), D(2026, 3, 10))]
    # 2026-03-01 is a Sunday (week of 02-23), 03-02 a Monday: adjacent weeks merge.
    assert merge_windows("weekly", days) == [AggWindow("weekly", D(2026, 2, 23), D(2026, 3, 15))]
    assert merge_windows("monthly", [D(2026, 1, 31), D(2026, 3, 1)]) == [
        AggWindow("monthly", D(2026, 1, 1), D(2026, 1, 31)),
        AggWindow("monthly", D(2026, 3, 1), D(2026, 3, 31))]
    assert merge_windows("daily", []) == []
