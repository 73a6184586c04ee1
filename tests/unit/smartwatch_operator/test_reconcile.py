"""reconcile.plan: the operator's decisions, with hand-written expectations."""

from __future__ import annotations

import datetime as dt

import pytest

from smartwatch_operator.reconcile import RunObserved, plan

pytestmark = pytest.mark.unit

UTC = dt.UTC
SPEC = {"granularity": "daily", "schedule": "30 2 * * *", "timeZone": "Europe/Berlin",
        "lookback": 1, "concurrencyPolicy": "Forbid", "startingDeadlineSeconds": 86400,
        "maxCatchUp": 10, "retry": {"limit": 2, "backoffSeconds": 60},
        "successfulRunsHistoryLimit": 1, "failedRunsHistoryLimit": 1}


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_first_look_starts_from_the_creation_time_and_plans_the_next_fire():
    p = plan("daily", SPEC, None, {}, at("2026-06-01T00:10:00"), created=at("2026-06-01T00:05:00"))
    assert p.create == [] and p.delete == []
    assert p.status["lastScheduleTime"] == "2026-06-01T00:05:00Z"
    assert p.status["nextRunTime"] == "2026-06-01T00:30:00Z"  # 02:30 CEST
    assert p.wake_at == at("2026-06-01T00:30:00")
    ready = {c["type"]: c["status"] for c in p.status["conditions"]}
    assert ready == {"Ready": "True", "Scheduled": "True", "Failing": "False"}


def test_a_due_fire_creates_the_run_of_the_day_before():
    first = plan("daily", SPEC, None, {}, at("2026-06-01T00:10:00"))
    p = plan("daily", SPEC, first.status, {}, at("2026-06-01T00:30:05"))
    assert [(r.name, r.kind, r.attempt, r.window.label, r.fire_time) for r in p.create] == [
        ("daily-s20260531", "s", 0, "2026-05-31", at("2026-06-01T00:30:00"))]
    assert p.status["active"] == [{"name": "daily-s20260531", "window": "2026-05-31",
                                   "kind": "s", "attempt": 0}]
    assert ("Normal", "RunCreated", "daily-s20260531 for window 2026-05-31") in p.events
    # Looking again at once changes nothing: the window is recorded.
    again = plan("daily", SPEC, p.status, {"daily-s20260531": RunObserved("daily-s20260531")},
                 at("2026-06-01T00:30:06"))
    assert again.create == [] and again.events == []


def test_catch_up_respects_the_deadline_and_the_bound():
    spec = {**SPEC, "concurrencyPolicy": "Allow", "startingDeadlineSeconds": 2 * 86400,
            "maxCatchUp": 1}
    first = plan("daily", spec, None, {}, at("2026-06-01T00:10:00"))
    # Fires at 00:30 UTC on Jun 1..5; the deadline (Jun 3 01:00) keeps Jun 4 and 5;
    # maxCatchUp keeps Jun 5.
    p = plan("daily", spec, first.status, {}, at("2026-06-05T01:00:00"))
    assert [r.name for r in p.create] == ["daily-s20260604"]
    assert p.missed == 4
    assert p.status["lastScheduleTime"] == "2026-06-05T00:30:00Z"


def test_forbid_keeps_the_next_window_pending_and_replace_deletes_the_active_run():
    # A run a day long: within the deadlines here (their own test is in test_planner.py).
    spec = {**SPEC, "deadlines": {"runSeconds": 7 * 86400}}
    first = plan("daily", spec, None, {}, at("2026-06-01T00:10:00"))
    running = plan("daily", spec, first.status, {}, at("2026-06-01T00:31:00"))
    runs = {"daily-s20260531": RunObserved("daily-s20260531", "RUNNING")}
    forbid = plan("daily", spec, running.status, runs, at("2026-06-02T00:31:00"))
    assert forbid.create == []
    assert [(w["window"], w["state"]) for w in forbid.status["windows"]] == [
        ("2026-05-31", "Running"), ("2026-06-01", "Pending")]
    replace = plan("daily", {**spec, "concurrencyPolicy": "Replace"}, running.status, runs,
                   at("2026-06-02T00:31:00"))
    assert [r.name for r in replace.create] == ["daily-s20260601"]
    assert replace.delete == ["daily-s20260531"]
    assert [(w["window"], w["state"]) for w in replace.status["windows"]] == [
        ("2026-05-31", "Replaced"), ("2026-06-01", "Running")]


def test_failures_are_retried_with_doubling_backoff_then_given_up():
    first = plan("daily", SPEC, None, {}, at("2026-06-01T00:10:00"))
    st = plan("daily", SPEC, first.status, {}, at("2026-06-01T00:31:00")).status
    failed = {"daily-s20260531": RunObserved("daily-s20260531", "FAILED", "OOM")}
    p = plan("daily", SPEC, st, failed, at("2026-06-01T00:40:00"))
    assert p.status["windows"][0]["state"] == "Retrying"
    failing = next(c for c in p.status["conditions"] if c["type"] == "Failing")
    assert failing["message"] == ("window 2026-05-31 failed: OOM; retry at 2026-06-01T00:41:00Z")
    assert p.status["windows"][0]["nextAttemptTime"] == "2026-06-01T00:41:00Z"
    assert p.wake_at == at("2026-06-01T00:41:00")
    assert plan("daily", SPEC, p.status, failed, at("2026-06-01T00:40:59")).create == []
    p = plan("daily", SPEC, p.status, failed, at("2026-06-01T00:41:00"))
    assert [r.name for r in p.create] == ["daily-s20260531-r1"]
    failed["daily-s20260531-r1"] = RunObserved("daily-s20260531-r1", "SUBMISSION_FAILED")
    p = plan("daily", SPEC, p.status, failed, at("2026-06-01T00:50:00"))
    assert p.status["windows"][0]["nextAttemptTime"] == "2026-06-01T00:52:00Z"
    p = plan("daily", SPEC, p.status, failed, at("2026-06-01T00:52:00"))
    failed["daily-s20260531-r2"] = RunObserved("daily-s20260531-r2", "FAILED")
    p = plan("daily", SPEC, p.status, failed, at("2026-06-01T01:00:00"))
    assert p.status["windows"][0]["state"] == "Failed"
    failing = next(c for c in p.status["conditions"] if c["type"] == "Failing")
    assert (failing["status"], failing["reason"]) == ("True", "RetriesExhausted")
    assert failing["message"] == "window 2026-05-31 failed 3 time(s): FAILED; no retries left"
    # History: one failed run kept, the newest.
    assert sorted(p.delete) == ["daily-s20260531", "daily-s20260531-r1"]


def test_an_invalid_spec_is_reported_once_and_schedules_nothing():
    bad = {**SPEC, "schedule": "75 2 * * *"}
    p = plan("daily", bad, None, {}, at("2026-06-01T00:31:00"))
    ready = next(c for c in p.status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "spec.schedule" in ready["message"] and "minute" in ready["message"]
    assert [e[1] for e in p.events] == ["InvalidSpec"]
    assert p.create == [] and "nextRunTime" not in p.status
    again = plan("daily", bad, p.status, {}, at("2026-06-01T00:32:00"))
    assert again.events == []
    fixed = plan("daily", SPEC, again.status, {}, at("2026-06-01T00:33:00"))
    assert next(c for c in fixed.status["conditions"] if c["type"] == "Ready")["status"] == "True"


def test_a_dirty_schedule_runs_at_every_fire_and_a_lookback_one_once_a_window():
    hourly = {**SPEC, "schedule": "0 * * * *", "timeZone": "UTC"}
    for mode, expected in (("dirty", ["daily-s20260531-r1"]), ("lookback", [])):
        spec = {**hourly, "mode": mode}
        first = plan("daily", spec, None, {}, at("2026-06-01T00:10:00"))
        started = plan("daily", spec, first.status, {}, at("2026-06-01T01:00:05"))
        assert [r.name for r in started.create] == ["daily-s20260531"]
        done = {"daily-s20260531": RunObserved("daily-s20260531", "COMPLETED",
                                               finished="2026-06-01T01:02:00Z")}
        finished = plan("daily", spec, started.status, done, at("2026-06-01T01:03:00"))
        assert finished.create == []
        # The 02:00 fire is in the same window (the day before).
        later = plan("daily", spec, finished.status, done, at("2026-06-01T02:00:05"))
        assert [r.name for r in later.create] == expected, mode
        if mode == "dirty":
            assert later.create[0].fire_time == at("2026-06-01T02:00:00")
            assert later.create[0].attempt == 1


def test_a_dirty_fire_while_the_windows_run_is_active_starts_nothing_more():
    spec = {**SPEC, "schedule": "0 * * * *", "timeZone": "UTC", "mode": "dirty"}
    first = plan("daily", spec, None, {}, at("2026-06-01T00:10:00"))
    started = plan("daily", spec, first.status, {}, at("2026-06-01T01:00:05"))
    running = {"daily-s20260531": RunObserved("daily-s20260531", "RUNNING")}
    later = plan("daily", spec, started.status, running, at("2026-06-01T02:00:05"))
    assert later.create == []
    assert [(w["window"], w["state"]) for w in later.status["windows"]] == [
        ("2026-05-31", "Running")]
