"""The operator in-process (kopf's KopfRunner) against the real kube-apiserver, with the real
spark-operator CRD installed and an injected clock. The test plays spark-operator: it patches
the runs' status to COMPLETED or FAILED."""

from __future__ import annotations

import pytest

from tests.k8s.operator_env import (
    GROUP,
    JUNE,
    PLURAL,
    VERSION,
    Clock,
    Cluster,
    condition,
    expected_app,
    schedule_status,
    started,
    stays,
    wait_for,
    window_records,
)

pytestmark = pytest.mark.k8s


def test_a_new_schedule_creates_exactly_the_expected_run_at_a_dst_start(cluster, operator):
    # 02:30 does not exist in Berlin on 2026-03-29 (clocks go 02:00 -> 03:00 CEST): the
    # fire time is 03:00 CEST = 01:00 UTC, for the window of the day before.
    clock = Clock("2026-03-28T23:00:00+00:00")
    with operator(clock):
        created = cluster.create_schedule("daily", lookback=1)
        wait_for("the first status", lambda: cluster.schedule("daily").get("status", {})
                 .get("nextRunTime"))
        assert cluster.schedule("daily")["status"]["nextRunTime"] == "2026-03-29T01:00:00Z"
        assert cluster.runs() == {}
        clock.set("2026-03-29T00:59:59+00:00")
        stays("nothing is due before the fire time", lambda: cluster.runs() == {}, 1.0)
        clock.set("2026-03-29T01:00:01+00:00")
        runs = wait_for("the run", cluster.runs)
        stays("exactly one run", lambda: list(cluster.runs()) == ["daily-s20260328"], 1.5)
    app = runs["daily-s20260328"]
    expected = expected_app(
        cluster.ns, created["metadata"]["uid"], "daily-s20260328",
        ["aggregate", "--granularity", "daily", "--from", "2026-03-27", "--to", "2026-03-28",
         "--run-name", "daily-s20260328"],
        {"smartwatch.dev/schedule": "daily", "smartwatch.dev/granularity": "daily",
         "smartwatch.dev/window": "2026-03-28", "smartwatch.dev/kind": "s",
         "smartwatch.dev/attempt": "0"},
        {"smartwatch.dev/fire-time": "2026-03-29T01:00:00Z",
         "smartwatch.dev/window-start": "2026-03-28",
         "smartwatch.dev/window-end": "2026-03-28"})
    assert app["spec"] == expected["spec"]
    for key in ("name", "namespace", "labels", "annotations", "ownerReferences"):
        assert app["metadata"][key] == expected["metadata"][key], key
    status = cluster.schedule("daily")["status"]
    assert status["active"] == [{"name": "daily-s20260328", "window": "2026-03-28", "kind": "s",
                                 "attempt": 0}]
    assert status["lastScheduleTime"] == "2026-03-29T01:00:00Z"
    assert status["nextRunTime"] == "2026-03-30T00:30:00Z"
    assert ("Normal", "RunCreated", "daily-s20260328 for window 2026-03-28") in \
        cluster.events("daily")


def test_catch_up_after_downtime_runs_the_newest_fire_times_within_the_deadline(cluster, operator):
    clock = Clock(JUNE)
    with operator(clock):
        cluster.create_schedule("daily", concurrencyPolicy="Allow",
                                startingDeadlineSeconds=3 * 86400, maxCatchUp=2)
        assert started(cluster, "daily") == "2026-06-01T00:30:00Z"
    # Down for five days: fire times Jun 1..6 at 00:30 UTC passed. Jun 1..3 are past the
    # 3-day deadline (Jun 3 01:00); of Jun 4, 5 and 6, maxCatchUp keeps the newest two.
    clock.set("2026-06-06T01:00:00+00:00")
    with operator(clock):
        wait_for("two runs", lambda: len(cluster.runs()) == 2)
        stays("no more runs", lambda: sorted(cluster.runs()) ==
              ["daily-s20260604", "daily-s20260605"], 1.5)
        wait_for("the missed-runs event", lambda: any(
            e[1] == "MissedRuns" and e[2].startswith("4 fire time(s)")
            for e in cluster.events("daily")))
    status = schedule_status(cluster, "daily")
    assert status["lastScheduleTime"] == "2026-06-06T00:30:00Z"
    assert status["nextRunTime"] == "2026-06-07T00:30:00Z"


def test_backfill_runs_every_window_once_with_at_most_max_concurrent(cluster, operator):
    clock = Clock(JUNE)
    expected = [f"daily-b202601{d:02d}" for d in range(1, 6)]
    with operator(clock):
        cluster.create_schedule("daily", backfill={"from": "2026-01-01", "to": "2026-01-05",
                                                   "maxConcurrent": 2})
        finished: list[str] = []
        while len(finished) < len(expected):
            active = wait_for("runs", lambda: sorted(set(cluster.runs()) - set(finished)))
            stays("at most 2 active", lambda: len(set(cluster.runs()) - set(finished)) <= 2, 0.8)
            assert len(active) <= 2
            cluster.finish(active[0], "COMPLETED")
            finished.append(active[0])
            wait_for("the next run or the end", lambda: len(finished) == len(expected) or
                     len(set(cluster.runs()) - set(finished)) == min(2, len(expected) -
                                                                      len(finished)))
        wait_for("backfill done", lambda: schedule_status(cluster, "daily").get("backfill", {})
                 .get("succeeded") == 5)
    assert finished == expected
    assert sorted(cluster.runs()) == expected[-3:]  # successfulRunsHistoryLimit defaults to 3
    assert schedule_status(cluster, "daily")["backfill"]["total"] == 5


def test_suspend_holds_runs_and_resume_catches_up(cluster, operator):
    clock = Clock(JUNE)
    with operator(clock):
        cluster.create_schedule("daily", suspend=True)
        wait_for("Scheduled false", lambda: condition(cluster, "daily", "Scheduled")
                 .get("reason") == "Suspended")
        clock.set("2026-06-01T00:31:00+00:00")
        stays("no run while suspended", lambda: cluster.runs() == {}, 1.5)
        cluster.patch_schedule("daily", {"spec": {"suspend": False}})
        wait_for("the held run", lambda: list(cluster.runs()) == ["daily-s20260531"])
        wait_for("Scheduled true", lambda: condition(cluster, "daily", "Scheduled")
                 .get("status") == "True")


def _second_window_due_while_the_first_runs(cluster: Cluster, clock: Clock, policy: str) -> None:
    # The first run stays unstarted for a day (no spark-operator here): within its deadlines.
    cluster.create_schedule("daily", concurrencyPolicy=policy,
                            deadlines={"startSeconds": 7 * 86400, "runSeconds": 7 * 86400})
    started(cluster, "daily")
    clock.set("2026-06-01T00:31:00+00:00")
    wait_for("the first run", lambda: list(cluster.runs()) == ["daily-s20260531"])
    clock.set("2026-06-02T00:31:00+00:00")


def test_forbid_lets_the_next_window_wait_for_the_active_run(cluster, operator):
    clock = Clock(JUNE)
    with operator(clock):
        _second_window_due_while_the_first_runs(cluster, clock, "Forbid")
        stays("the second window waits", lambda: list(cluster.runs()) == ["daily-s20260531"])
        assert window_records(cluster, "daily")["s:2026-06-01"]["state"] == "Pending"
        cluster.finish("daily-s20260531", "COMPLETED")
        wait_for("the second run", lambda: "daily-s20260601" in cluster.runs())


def test_replace_deletes_the_active_run_for_the_next_window(cluster, operator):
    clock = Clock(JUNE)
    with operator(clock):
        _second_window_due_while_the_first_runs(cluster, clock, "Replace")
        wait_for("the replacement", lambda: list(cluster.runs()) == ["daily-s20260601"])
        wait_for("the record", lambda: window_records(cluster, "daily")["s:2026-05-31"]["state"]
                 == "Replaced")
        assert any(e[1] == "RunReplaced" for e in cluster.events("daily"))


def test_history_limits_delete_old_finished_runs(cluster, operator):
    clock = Clock(JUNE)
    with operator(clock):
        cluster.create_schedule("daily", concurrencyPolicy="Allow", retry={"limit": 0},
                                successfulRunsHistoryLimit=1, failedRunsHistoryLimit=1)
        started(cluster, "daily")
        outcomes = [("2026-06-01", "daily-s20260531", "COMPLETED"),
                    ("2026-06-02", "daily-s20260601", "COMPLETED"),
                    ("2026-06-03", "daily-s20260602", "FAILED"),
                    ("2026-06-04", "daily-s20260603", "FAILED")]
        for day, run, state in outcomes:
            clock.set(f"{day}T00:31:00+00:00")
            wait_for(run, lambda run=run: run in cluster.runs())
            cluster.finish(run, state, "executor lost" if state == "FAILED" else "")
        wait_for("history trimmed", lambda: sorted(cluster.runs()) ==
                 ["daily-s20260601", "daily-s20260603"])
        wait_for("Failing", lambda: condition(cluster, "daily", "Failing")
                 .get("reason") == "RetriesExhausted")
    records = window_records(cluster, "daily")
    assert [records[k]["state"] for k in sorted(records)] == \
        ["Succeeded", "Succeeded", "Failed", "Failed"]


def test_run_now_annotation_runs_that_window_once(cluster, operator):
    clock = Clock(JUNE)
    with operator(clock):
        cluster.create_schedule("daily")
        started(cluster, "daily")
        cluster.patch_schedule("daily", {"metadata": {"annotations": {
            "smartwatch.dev/run-now": "2026-02-10"}}})
        wait_for("the run", lambda: list(cluster.runs()) == ["daily-n20260210"])
        wait_for("the annotation removed", lambda: "smartwatch.dev/run-now" not in
                 (cluster.schedule("daily")["metadata"].get("annotations") or {}))
        assert schedule_status(cluster, "daily")["runNow"] == "2026-02-10"
        cluster.finish("daily-n20260210", "COMPLETED")
        cluster.patch_schedule("daily", {"metadata": {"annotations": {
            "smartwatch.dev/run-now": "latest"}}})
        wait_for("the latest window", lambda: "daily-n20260531" in cluster.runs())


def test_an_operator_restart_after_creating_a_run_creates_no_duplicate(cluster, operator):
    clock = Clock(JUNE)
    with operator(clock):
        cluster.create_schedule("daily")
        started(cluster, "daily")
        clock.set("2026-06-01T00:31:00+00:00")
        wait_for("the run", lambda: list(cluster.runs()) == ["daily-s20260531"])
    # The operator died after creating the run but before its status was written.
    cluster.custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, cluster.ns, PLURAL, "daily",
        {"status": {"windows": None, "active": None, "revision": None,
                    "lastScheduleTime": "2026-06-01T00:00:00Z"}})
    with operator(clock):
        wait_for("the record again", lambda: window_records(cluster, "daily")
                 .get("s:2026-05-31", {}).get("state") == "Running")
        stays("one run", lambda: list(cluster.runs()) == ["daily-s20260531"], 1.5)
        assert schedule_status(cluster, "daily")["active"][0]["name"] == "daily-s20260531"


