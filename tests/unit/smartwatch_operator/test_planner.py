"""reconcile.plan, beyond the basics of test_reconcile.py: backfill, run-now, suspend, history
limits, Allow, and records as typed values; with an injected clock and hand-written
expectations."""

from __future__ import annotations

import datetime as dt

import pytest

from smartwatch_operator.naming import RunKind
from smartwatch_operator.reconcile import (
    ACTIVE,
    TERMINAL,
    RunObserved,
    State,
    WindowRecord,
    plan,
)

pytestmark = pytest.mark.unit

UTC = dt.UTC
SPEC = {"granularity": "daily", "schedule": "30 2 * * *", "timeZone": "UTC",
        "retry": {"limit": 1, "backoffSeconds": 60}}


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def windows(status: dict) -> list[tuple[str, str, str]]:
    return [(w["kind"], w["window"], w["state"]) for w in status["windows"]]


def done(*names: str, state: str = "COMPLETED", finished: str = "2026-06-01T12:00:00Z") \
        -> dict[str, RunObserved]:
    return {n: RunObserved(n, state, finished=finished) for n in names}


def test_a_backfill_runs_its_windows_at_most_max_concurrent_at_a_time_and_counts_them() -> None:
    spec = {**SPEC, "backfill": {"from": "2026-05-01", "to": "2026-05-03", "maxConcurrent": 2}}
    now = at("2026-06-01T00:00:00")
    p = plan("d", spec, None, {}, now)
    assert [r.name for r in p.create] == ["d-b20260501", "d-b20260502"]
    assert p.status["backfill"] == {"range": "2026-05-01..2026-05-03", "total": 3,
                                    "succeeded": 0, "failed": 0, "next": "2026-05-03",
                                    "active": 2}
    # One ends: the third starts; the other still runs.
    p = plan("d", spec, p.status, done("d-b20260501"), now + dt.timedelta(minutes=5))
    assert [r.name for r in p.create] == ["d-b20260503"]
    assert p.status["backfill"]["succeeded"] == 1 and p.status["backfill"]["next"] is None
    # All end: nothing more, every window Succeeded.
    p = plan("d", spec, p.status, done("d-b20260501", "d-b20260502", "d-b20260503"),
             now + dt.timedelta(minutes=10))
    assert p.create == [] and p.status["backfill"]["succeeded"] == 3
    assert windows(p.status) == [("b", "2026-05-01", "Succeeded"), ("b", "2026-05-02", "Succeeded"),
                                 ("b", "2026-05-03", "Succeeded")]
    # The backfill taken out of the spec: its progress goes from the status.
    p = plan("d", SPEC, p.status, {}, now + dt.timedelta(minutes=11))
    assert "backfill" not in p.status


def test_run_now_of_a_date_and_of_latest_and_a_bad_value() -> None:
    now = at("2026-06-10T08:00:00")
    p = plan("d", SPEC, None, {}, now, run_now="2026-06-03")
    assert [(r.name, r.kind, r.fire_time) for r in p.create] == [("d-n20260603", RunKind.RUN_NOW, None)]
    assert p.remove_run_now
    # The same annotation seen again (not yet removed) starts nothing more.
    again = plan("d", SPEC, p.status, {}, now, run_now="2026-06-03")
    assert again.create == [] and again.remove_run_now
    # latest: the window of the last fire before now (02:30 on the 10th: the 9th). It waits
    # while the first run-now runs (Forbid holds run-now windows as it holds scheduled ones),
    # and starts when that one has ended.
    latest = plan("d", SPEC, p.status, {}, now, run_now="latest")
    assert latest.create == [] and ("n", "2026-06-09", "Pending") in windows(latest.status)
    ended = plan("d", SPEC, latest.status, done("d-n20260603"), now, run_now="latest")
    assert [r.name for r in ended.create] == ["d-n20260609"]
    bad = plan("d", SPEC, latest.status, {}, now, run_now="yesterday")
    assert bad.create == [] and [e[1] for e in bad.events] == ["InvalidRunNow"]
    assert "yesterday" in bad.events[0][2]


def test_a_run_now_of_a_finished_window_runs_it_again_as_its_next_attempt() -> None:
    now = at("2026-06-10T08:00:00")
    p = plan("d", SPEC, None, {}, now, run_now="2026-06-03")
    # Seen again before its removal took effect (a restart in between): nothing more.
    again = plan("d", SPEC, p.status, {}, now, run_now="2026-06-03")
    assert again.create == [] and again.remove_run_now
    # Removed; the run ends; then the same date asked again is a new request.
    p = plan("d", SPEC, again.status, done("d-n20260603"), now + dt.timedelta(minutes=5))
    assert windows(p.status) == [("n", "2026-06-03", "Succeeded")]
    p = plan("d", SPEC, p.status, done("d-n20260603"), now + dt.timedelta(minutes=6),
             run_now="2026-06-03")
    assert [(r.name, r.attempt) for r in p.create] == [("d-n20260603-r1", 1)]


def test_suspend_starts_nothing_plans_no_fire_and_holds_the_backfill() -> None:
    spec = {**SPEC, "suspend": True, "backfill": {"from": "2026-05-01", "to": "2026-05-02"}}
    first = plan("d", spec, None, {}, at("2026-06-01T00:00:00"))
    p = plan("d", spec, first.status, {}, at("2026-06-03T03:00:00"), run_now="2026-06-01")
    assert p.create == [] and "nextRunTime" not in p.status and p.wake_at is None
    conditions = {c["type"]: (c["status"], c["reason"]) for c in p.status["conditions"]}
    assert conditions == {"Ready": ("True", "Suspended"), "Scheduled": ("False", "Suspended"),
                          "Failing": ("False", "NoFailures")}
    assert p.status["backfill"]["next"] == "2026-05-01"  # nothing taken while suspended
    # Resumed: the fires missed while suspended are not run (the last handled time moved
    # on), the run-now waiting is, and the backfill starts.
    resumed = plan("d", {**spec, "suspend": False}, p.status, {}, at("2026-06-03T03:01:00"))
    assert sorted(r.name for r in resumed.create) == ["d-b20260501", "d-b20260502",
                                                      "d-n20260601"]


def test_history_keeps_the_newest_finished_runs_within_the_limits() -> None:
    spec = {**SPEC, "successfulRunsHistoryLimit": 2, "failedRunsHistoryLimit": 0}
    runs = {f"old-{i}": RunObserved(f"old-{i}", "COMPLETED", finished=f"2026-06-0{i}T00:00:00Z")
            for i in range(1, 5)}
    runs["broken"] = RunObserved("broken", "FAILED", finished="2026-06-05T00:00:00Z")
    runs["going"] = RunObserved("going", "RUNNING")
    p = plan("d", spec, None, runs, at("2026-06-06T00:00:00"))
    assert sorted(p.delete) == ["broken", "old-1", "old-2"]


def test_allow_runs_every_due_window_at_once_and_forbid_one() -> None:
    spec = {**SPEC, "schedule": "0 * * * *", "granularity": "daily", "maxCatchUp": 3}
    first = plan("d", {**spec, "concurrencyPolicy": "Allow"}, None, {}, at("2026-06-01T22:30:00"))
    # Fires at 23:00, 00:00 and 01:00: windows of May 31 (23:00) and June 1 (00:00, 01:00 the
    # same window, one record).
    allow = plan("d", {**spec, "concurrencyPolicy": "Allow"}, first.status, {},
                 at("2026-06-02T01:00:05"))
    assert [r.name for r in allow.create] == ["d-s20260531", "d-s20260601"]
    forbid = plan("d", spec, first.status, {}, at("2026-06-02T01:00:05"))
    assert [r.name for r in forbid.create] == ["d-s20260531"]
    assert windows(forbid.status) == [("s", "2026-05-31", "Running"), ("s", "2026-06-01", "Pending")]


def test_a_retry_with_no_time_recorded_is_due_at_once() -> None:
    status = {"windows": [{"window": "2026-05-31", "start": "2026-05-31", "end": "2026-05-31",
                           "kind": "s", "state": "Retrying", "attempts": 1, "failures": 1}],
              "lastScheduleTime": "2026-06-01T02:30:00Z"}
    p = plan("d", SPEC, status, {}, at("2026-06-01T03:00:00"))
    assert [(r.name, r.attempt) for r in p.create] == [("d-s20260531-r1", 1)]


def test_a_record_survives_its_round_trip_through_the_status() -> None:
    stored = {"window": "2026w22", "start": "2026-05-25", "end": "2026-05-31", "kind": "b",
              "state": "Retrying", "attempts": 2, "failures": 2, "run": "w-b2026w22-r1",
              "startedTime": "2026-06-01T00:00:00Z", "finishedTime": "2026-06-01T00:05:00Z",
              "nextAttemptTime": "2026-06-01T00:07:00Z"}
    rec = WindowRecord.of(stored)
    assert (rec.kind, rec.state, rec.next_attempt) == (RunKind.BACKFILL, State.RETRYING,
                                                      at("2026-06-01T00:07:00"))
    assert rec.stored() == stored
    assert {s.value for s in ACTIVE} == {"Pending", "Running"}
    assert {s.value for s in TERMINAL} == {"Succeeded", "Failed", "Replaced"}


def test_a_run_unstarted_past_its_deadline_is_deleted_failed_and_retried() -> None:
    created = at("2026-06-01T02:30:05")
    first = plan("d", SPEC, None, {}, at("2026-06-01T00:00:00"))
    started = plan("d", SPEC, first.status, {}, created)
    assert [r.name for r in started.create] == ["d-s20260531"]
    # The planner wakes at the start deadline (30 min), before the next fire.
    assert started.wake_at == created + dt.timedelta(minutes=30)
    pending = {"d-s20260531": RunObserved("d-s20260531", "SUBMITTED")}
    within = plan("d", SPEC, started.status, pending, created + dt.timedelta(minutes=29))
    assert within.delete == [] and windows(within.status) == [("s", "2026-05-31", "Running")]
    late = plan("d", SPEC, within.status, pending, created + dt.timedelta(minutes=30))
    assert late.delete == ["d-s20260531"]
    assert windows(late.status) == [("s", "2026-05-31", "Retrying")]
    reason = ("not started within deadlines.startSeconds (1800 s); last state SUBMITTED")
    failing = next(c for c in late.status["conditions"] if c["type"] == "Failing")
    assert failing["status"] == "True" and reason in failing["message"]
    assert [(e[0], e[1]) for e in late.events] == [("Warning", "RunDeadlineExceeded")]
    assert reason in late.events[0][2]
    # The retry, after the backoff (60 s), is a new run.
    retry = plan("d", SPEC, late.status, {}, created + dt.timedelta(minutes=31))
    assert [(r.name, r.attempt) for r in retry.create] == [("d-s20260531-r1", 1)]


def test_a_run_past_its_run_deadline_fails_and_without_retries_lets_the_next_window_run() -> None:
    spec = {**SPEC, "retry": {"limit": 0}, "schedule": "0 * * * *",
            "deadlines": {"startSeconds": 600, "runSeconds": 3600}}
    first = plan("d", spec, None, {}, at("2026-06-01T22:30:00"))
    started = plan("d", spec, first.status, {}, at("2026-06-01T23:00:05"))
    assert [r.name for r in started.create] == ["d-s20260531"]
    running = {"d-s20260531": RunObserved("d-s20260531", "RUNNING")}
    # Past the start deadline but running: only the run deadline applies.
    going = plan("d", spec, started.status, running, at("2026-06-01T23:30:00"))
    assert going.delete == [] and going.create == []
    # The 00:00 fire's window (June 1) waits behind it (Forbid) until the run deadline.
    waiting = plan("d", spec, going.status, running, at("2026-06-02T00:00:04"))
    assert waiting.create == []
    over = plan("d", spec, waiting.status, running, at("2026-06-02T00:00:05"))
    assert over.delete == ["d-s20260531"]
    assert [r.name for r in over.create] == ["d-s20260601"]
    assert ("s", "2026-05-31", "Failed") in windows(over.status)
    failing = next(c for c in over.status["conditions"] if c["type"] == "Failing")
    assert failing["reason"] == "RetriesExhausted"
    assert "not ended within deadlines.runSeconds (3600 s); last state RUNNING" in \
        failing["message"]


def test_a_run_spark_operator_never_reported_fails_at_the_start_deadline() -> None:
    first = plan("d", SPEC, None, {}, at("2026-06-01T00:00:00"))
    started = plan("d", SPEC, first.status, {}, at("2026-06-01T02:30:05"))
    late = plan("d", SPEC, started.status, {}, at("2026-06-01T03:00:05"))
    assert late.delete == ["d-s20260531"]
    assert "not started within deadlines.startSeconds (1800 s); spark-operator never " \
           "reported it" in late.events[0][2]


def test_blocked_runs_stay_pending_with_ready_false_then_start_once_unblocked() -> None:
    blocked = ("SparkOperatorMissing", "no SparkApplication resource on this cluster")
    first = plan("d", SPEC, None, {}, at("2026-06-01T00:00:00"))
    held = plan("d", SPEC, first.status, {}, at("2026-06-01T02:30:05"), blocked=blocked)
    assert held.create == [] and windows(held.status) == [("s", "2026-05-31", "Pending")]
    ready = next(c for c in held.status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", *blocked)
    freed = plan("d", SPEC, held.status, {}, at("2026-06-01T02:31:00"))
    assert [r.name for r in freed.create] == ["d-s20260531"]
    assert next(c for c in freed.status["conditions"] if c["type"] == "Ready")["status"] == "True"
