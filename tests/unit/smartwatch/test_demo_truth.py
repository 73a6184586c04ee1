"""The demo's ground truth and reconciliation line, on readings written out by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from smartwatch.events import SleepState
from smartwatch_dev.demo import truth
from smartwatch_dev.simulate.fleet import Reading, User

pytestmark = pytest.mark.unit

UTC = dt.UTC
NY = User("u1", "w1", "America/New_York", 23 * 60, 7 * 60, 60.0)


def r(when: str, hr: int, steps: int, state: SleepState = SleepState.awake) -> Reading:
    return Reading(NY, dt.datetime.fromisoformat(when).replace(tzinfo=UTC), hr, steps, state)


def test_local_days_weeks_and_months_each_reading_once() -> None:
    readings = [
        r("2026-11-01T03:30:00", 50, 0, SleepState.deep),   # 23:30 on Oct 31 in New York
        r("2026-11-01T03:30:00", 50, 0, SleepState.deep),   # the same reading, resent
        r("2026-11-01T05:30:00", 70, 10, SleepState.rem),   # 01:30 EDT on Nov 1
        r("2026-11-01T06:30:00", 80, 30),                   # 01:30 EST on Nov 1 (the repeated hour)
        r("2026-11-02T15:00:00", 90, 5),                    # Monday Nov 2: the next ISO week
    ]
    want = truth.expected(readings)
    daily = want["daily"]
    assert set(daily) == {("u1", dt.date(2026, 10, 31)), ("u1", dt.date(2026, 11, 1)),
                          ("u1", dt.date(2026, 11, 2))}
    nov1 = daily[("u1", dt.date(2026, 11, 1))]
    assert (nov1["readings"], nov1["total_steps"], nov1["hr_sum"], nov1["min_hr"],
            nov1["max_hr"], nov1["avg_hr"], nov1["sleep_hr_samples"], nov1["avg_sleep_hr"]) == (
        2, 40, 150, 70, 80, 75.0, 1, 70.0)
    assert daily[("u1", dt.date(2026, 10, 31))]["readings"] == 1
    # Oct 31 and Nov 1 are in the ISO week of Monday Oct 26; Nov 2 starts the next.
    assert {k[1]: v["readings"] for k, v in want["weekly"].items()} == {
        dt.date(2026, 10, 26): 3, dt.date(2026, 11, 2): 1}
    assert {k[1]: v["readings"] for k, v in want["monthly"].items()} == {
        dt.date(2026, 10, 1): 1, dt.date(2026, 11, 1): 3}
    week = want["weekly"][("u1", dt.date(2026, 10, 26))]
    assert week["first_at"] == readings[0].measured_at and week["last_at"] == readings[3].measured_at


def test_differences_name_table_user_period_and_column() -> None:
    want = truth.expected([r("2026-11-02T15:00:00", 90, 5)])
    got = {g: {k: dict(v) for k, v in rows.items()} for g, rows in want.items()}
    assert truth.differences(want, got) == []
    got["daily"][("u1", dt.date(2026, 11, 2))]["total_steps"] = 6
    got["weekly"][("u9", dt.date(2026, 11, 2))] = dict(got["weekly"][("u1", dt.date(2026, 11, 2))])
    del got["monthly"][("u1", dt.date(2026, 11, 1))]
    assert truth.differences(want, got) == [
        "daily u1 2026-11-02: total_steps is 6, expected 5",
        "weekly u9 2026-11-02: not expected (nothing was sent for it)",
        "monthly u1 2026-11-01: missing"]


def test_the_line_says_yes_only_when_counts_chain_and_rows_match() -> None:
    counts = truth.Counts(sent=10, resent=2, late=3, accepted=10, landed=10, counted=10,
                          rows={"daily": 2, "weekly": 1, "monthly": 1})
    assert truth.line(counts, []) == (
        "reconciliation: readings sent 10 = accepted 10 = landed 10 (unique) = counted 10 "
        "(daily aggregates); 2 resent copies and 3 late readings included; rows 2 daily, "
        "1 weekly, 1 monthly vs the ground truth: match: yes")
    short = truth.Counts(**{**counts.__dict__, "landed": 9})
    assert "= accepted 10 != landed 9 (unique) != counted 10" in truth.line(short, [])
    assert truth.line(short, []).endswith("match: no: the counts differ")
    many = [f"d{i}" for i in range(5)]
    assert truth.line(counts, many).endswith("match: no: d0; d1; d2 (+2 more)")


def test_the_line_carries_the_audits_verdict() -> None:
    counts = truth.Counts(sent=10, resent=2, late=3, accepted=10, landed=10, counted=10,
                          rows={"daily": 2, "weekly": 1, "monthly": 1})
    ok = {"ok": True, "user_days": 4, "differences": [],
          "lag": [{"behind": 0}, {"behind": 2}]}
    line = truth.line(counts, [], ok)
    assert "; audit: 4 user-days, 2 records not landed, ok; rows" in line
    assert line.endswith("match: yes")
    bad = {**ok, "ok": False, "differences": [{"user_id": "u1"}]}
    assert truth.line(counts, [], bad).endswith(
        "audit: 4 user-days, 2 records not landed, 1 differ; rows 2 daily, 1 weekly, 1 monthly "
        "vs the ground truth: match: no: the audit found differences")
