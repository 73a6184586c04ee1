"""smartwatch.periods: granularities, windows of whole periods (alignment, merging, labels,
the window of a fire time, shifting, ranges) and the aggregate measures, checked against the
migrations and the CRD (pure logic, expectations by hand)."""

import ast
import re
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from smartwatch import periods
from smartwatch.periods import (
    GRANULARITIES,
    MEASURES,
    PG_TYPES,
    SPECS,
    Window,
    WindowError,
    align,
    between,
    containing,
    lookback_span,
    merge_windows,
    of_fire,
    one_period,
    parse_label,
)
from smartwatch_dev.toolchain import REPO_ROOT, SCHEDULE_CRD

pytestmark = pytest.mark.unit
D = date
BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
ROOT = REPO_ROOT


# --- windows of several periods: alignment and merging (the job's) -----------------------------
def test_align_to_whole_periods() -> None:
    assert align("daily", D(2026, 3, 8), D(2026, 3, 9)) == Window("daily", D(2026, 3, 8),
                                                                  D(2026, 3, 9))
    # 2021-01-01 is a Friday of ISO week 2020-W53 (Monday 2020-12-28 .. Sunday 2021-01-03).
    assert align("weekly", D(2021, 1, 1), D(2021, 1, 1)) == Window(
        "weekly", D(2020, 12, 28), D(2021, 1, 3))
    assert align("monthly", D(2024, 2, 10), D(2024, 2, 10)) == Window(
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
    assert merge_windows("daily", days) == [Window("daily", D(2026, 3, 1), D(2026, 3, 3)),
                                            Window("daily", D(2026, 3, 10), D(2026, 3, 10))]
    # 2026-03-01 is a Sunday (week of 02-23), 03-02 a Monday: adjacent weeks merge.
    assert merge_windows("weekly", days) == [Window("weekly", D(2026, 2, 23), D(2026, 3, 15))]
    assert merge_windows("monthly", [D(2026, 1, 31), D(2026, 3, 1)]) == [
        Window("monthly", D(2026, 1, 1), D(2026, 1, 31)),
        Window("monthly", D(2026, 3, 1), D(2026, 3, 31))]
    assert merge_windows("daily", []) == []


@pytest.mark.parametrize(("granularity", "start", "end"), [
    ("weekly", D(2026, 11, 24), D(2026, 11, 30)),    # not a Monday
    ("weekly", D(2026, 11, 23), D(2026, 12, 5)),     # not a Sunday
    ("monthly", D(2026, 11, 1), D(2026, 11, 29)),    # not the whole month
    ("daily", D(2026, 11, 28), D(2026, 11, 27)),     # reversed
])
def test_window_must_be_whole_periods(granularity: str, start: date, end: date) -> None:
    with pytest.raises(WindowError, match="is not whole"):
        Window(granularity, start, end)


def test_windows_of_several_periods() -> None:
    weeks = Window("weekly", D(2020, 12, 28), D(2021, 1, 17))
    assert not weeks.is_one_period and weeks.label == "2020-W53..2021-W02"
    assert weeks.next == Window("weekly", D(2021, 1, 4), D(2021, 1, 24))
    # Months of unequal lengths: each end is its month's last day.
    months = Window("monthly", D(2024, 1, 1), D(2024, 2, 29))
    assert months.shift(1) == Window("monthly", D(2024, 2, 1), D(2024, 3, 31))
    assert months.previous == Window("monthly", D(2023, 12, 1), D(2024, 1, 31))
    assert Window("daily", D(2026, 3, 8), D(2026, 3, 10)).label == "2026-03-08..2026-03-10"


# --- one period at a time (the operator's) ------------------------------------------------------
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
        one_period(granularity, start, end)


def test_one_period() -> None:
    assert one_period("weekly", D(2026, 11, 23), D(2026, 11, 29)) == containing(
        "weekly", D(2026, 11, 27))
    assert containing("monthly", D(2026, 2, 3)).is_one_period


def test_unknown_granularity() -> None:
    with pytest.raises(WindowError, match="unknown granularity 'hourly'"):
        containing("hourly", D(2026, 1, 1))
    with pytest.raises(WindowError, match="unknown granularity 'hourly'; choose daily, weekly, "
                                          "monthly"):
        Window("hourly", D(2026, 1, 1), D(2026, 1, 1))


# --- the tables: granularities and measures against the migrations and the CRD ----------------
def test_granularities_and_their_tables() -> None:
    assert GRANULARITIES == ("daily", "weekly", "monthly") == tuple(SPECS)
    assert {g: (s.table, s.keys, s.period_column) for g, s in SPECS.items()} == {
        "daily": ("daily_aggregates", ("user_id", "local_date"), "local_date"),
        "weekly": ("weekly_aggregates", ("user_id", "iso_year", "iso_week", "week_start"),
                   "week_start"),
        "monthly": ("monthly_aggregates", ("user_id", "year", "month", "month_start"),
                    "month_start")}
    assert MEASURES == ("total_steps", "hr_samples", "hr_sum", "avg_hr", "min_hr", "max_hr",
                        "sleep_hr_samples", "sleep_hr_sum", "avg_sleep_hr", "readings",
                        "first_at", "last_at")
    assert periods.COMBINE == {"total_steps": "sum", "hr_samples": "sum", "hr_sum": "sum",
                               "min_hr": "min", "max_hr": "max", "sleep_hr_samples": "sum",
                               "sleep_hr_sum": "sum", "readings": "sum", "first_at": "min",
                               "last_at": "max"}
    assert periods.AVERAGES == {"avg_hr": ("hr_sum", "hr_samples"),
                                "avg_sleep_hr": ("sleep_hr_sum", "sleep_hr_samples")}


def _migrated_columns() -> dict[str, dict[str, str]]:
    """Every table's columns and their types after all migrations (CREATE TABLE and
    ALTER TABLE ... ADD COLUMN), read from the SQL."""
    tables: dict[str, dict[str, str]] = {}
    folder = ROOT / "services" / "smartwatch" / "db" / "migrations"
    for path in sorted(folder.glob("*.sql")):
        sql = re.sub(r"--[^\n]*", "", path.read_text())
        for name, body in re.findall(r"CREATE TABLE (\w+) \((.*?)\n\)", sql, re.S):
            tables[name] = {m[1]: m[2].lower() for m in (
                re.match(r"\s*(\w+)\s+(\w+(?: precision)?)", line) for line in re.split(r",\s*\n", body))
                if m and m[1].upper() not in ("PRIMARY", "UNIQUE", "CHECK", "CONSTRAINT")}
        for name, column, kind in re.findall(
                r"ALTER TABLE (\w+) ADD COLUMN (?:IF NOT EXISTS )?(\w+) (\w+(?: precision)?)", sql):
            tables[name][column] = kind.lower()
    return tables


def test_the_migrations_make_the_tables_of_the_domain() -> None:
    tables = _migrated_columns()
    for spec in SPECS.values():
        columns = [*spec.keys, *MEASURES, *periods.RUN_COLUMNS]  # any order: all are named
        assert tables[spec.table] == {c: PG_TYPES[c] for c in columns}, spec.table
    sql = (ROOT / "services/smartwatch/db/migrations/0003_aggregates.sql").read_text()
    allowed = re.search(r"granularity\s+text\s+NOT NULL CHECK \(granularity IN \(([^)]*)\)", sql)
    assert allowed and re.findall(r"'(\w+)'", allowed[1]) == list(GRANULARITIES)


def test_the_crd_offers_the_granularities() -> None:
    crd = yaml.safe_load(SCHEDULE_CRD.read_text())
    for version in crd["spec"]["versions"]:
        spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
        assert spec["properties"]["granularity"]["enum"] == list(GRANULARITIES)


def test_the_domain_module_imports_only_the_standard_library() -> None:
    import sys

    tree = ast.parse(Path(periods.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
