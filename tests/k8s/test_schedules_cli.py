"""`smartwatch schedules` against the k8s tier's kube-apiserver: each subcommand, what it
prints and changes, and its refusals (hand-written expectations)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartwatch.cli import main
from smartwatch.k8s import RUN_NOW_ANNOTATION
from tests.k8s.operator_env import GROUP, PLURAL, VERSION, Cluster

pytestmark = pytest.mark.k8s


def run(capsys, kubeconfig: Path, cluster: Cluster, *args: str) -> tuple[int, str, str]:
    code = main(["schedules", *args, "--kubeconfig", str(kubeconfig), "-n", cluster.ns])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_shows_each_schedule_with_its_status(capsys, kubeconfig: Path,
                                                   cluster: Cluster) -> None:
    assert run(capsys, kubeconfig, cluster, "list")[1].strip() == \
        f"no AggregationSchedules in namespace {cluster.ns}"
    cluster.create_schedule("daily")
    cluster.create_schedule("weekly", granularity="weekly", schedule="0 3 * * 1", suspend=True)
    cluster.custom.patch_namespaced_custom_object_status(GROUP, VERSION, cluster.ns, PLURAL,
                                                         "daily", {"status": {
        "lastSuccessfulWindow": "2026-03-28", "nextRunTime": "2026-03-30T00:30:00Z",
        "dirtyDates": 4, "conditions": [
            {"type": "Ready", "status": "True", "reason": "Running", "message": "",
             "lastTransitionTime": "2026-03-29T00:00:00Z"},
            {"type": "Failing", "status": "True", "reason": "Retrying",
             "message": "window 2026-03-27 failed: OOM; retry at 2026-03-29T01:00:00Z",
             "lastTransitionTime": "2026-03-29T00:00:00Z"}]}})
    code, out, _ = run(capsys, kubeconfig, cluster, "list")
    assert code == 0
    lines = [line.split() for line in out.splitlines()]
    assert lines[0][:4] == ["NAMESPACE", "NAME", "GRANULARITY", "SCHEDULE"]
    assert lines[1][:2] == [cluster.ns, "daily"] and "2026-03-28" in lines[1]
    assert "2026-03-30T00:30:00Z" in lines[1] and "4" in lines[1] and "OOM;" in lines[1]
    assert lines[2][:3] == [cluster.ns, "weekly", "weekly"] and "Suspended" in lines[2]
    import json

    code, out, _ = run(capsys, kubeconfig, cluster, "list", "--json")
    rows = json.loads(out)
    assert [(r["name"], r["state"], r["dirtyDates"], r["lastSuccessfulWindow"]) for r in rows] \
        == [("daily", "Running", 4, "2026-03-28"), ("weekly", "Suspended", None, None)]


def test_run_now_annotates_and_a_bad_date_or_name_is_refused(capsys, kubeconfig: Path,
                                                             cluster: Cluster) -> None:
    cluster.create_schedule("daily")
    code, out, _ = run(capsys, kubeconfig, cluster, "run-now", "daily", "--date", "2026-03-28")
    assert code == 0 and out.startswith(f"schedule {cluster.ns}/daily: run-now of 2026-03-28")
    assert cluster.schedule("daily")["metadata"]["annotations"][RUN_NOW_ANNOTATION] == \
        "2026-03-28"
    code, _, err = run(capsys, kubeconfig, cluster, "run-now", "daily", "--date", "yesterday")
    assert code == 2 and "'yesterday' is neither a date" in err
    code, _, err = run(capsys, kubeconfig, cluster, "run-now", "nightly")
    assert code == 1
    assert err.startswith(f"smartwatch schedules run-now: schedule {cluster.ns}/nightly: ")
    assert "not found" in err and "(HTTP 404)" in err


def test_backfill_sets_the_range_and_the_api_servers_refusal_is_named(
        capsys, kubeconfig: Path, cluster: Cluster) -> None:
    cluster.create_schedule("daily")
    code, out, _ = run(capsys, kubeconfig, cluster, "backfill", "daily", "--from", "2026-01-01",
                       "--to", "2026-01-31", "--max-concurrent", "3")
    assert code == 0 and out.strip() == (f"schedule {cluster.ns}/daily: backfill "
                                         "2026-01-01..2026-01-31, 3 at a time")
    assert cluster.schedule("daily")["spec"]["backfill"] == {
        "from": "2026-01-01", "to": "2026-01-31", "maxConcurrent": 3}
    code, out, _ = run(capsys, kubeconfig, cluster, "backfill", "daily", "--from", "2026-02-01",
                       "--to", "2026-02-02")
    assert code == 0 and out.strip().endswith("(was 2026-01-01..2026-01-31)")
    code, _, err = run(capsys, kubeconfig, cluster, "backfill", "daily", "--from", "2026-02-02",
                       "--to", "2026-02-01")
    assert code == 2 and "--from 2026-02-02 is after --to 2026-02-01" in err
    # The CRD's bound (maxConcurrent at most 50), as the API server words it.
    code, _, err = run(capsys, kubeconfig, cluster, "backfill", "daily", "--from", "2026-02-01",
                       "--to", "2026-02-02", "--max-concurrent", "500")
    assert code == 1 and "maxConcurrent" in err and "(HTTP 422)" in err
    assert cluster.schedule("daily")["spec"]["backfill"]["maxConcurrent"] == 2


def test_suspend_and_resume_say_what_changed(capsys, kubeconfig: Path, cluster: Cluster) -> None:
    cluster.create_schedule("daily")
    assert run(capsys, kubeconfig, cluster, "suspend", "daily")[:2] == \
        (0, f"schedule {cluster.ns}/daily: suspended\n")
    assert cluster.schedule("daily")["spec"]["suspend"] is True
    assert run(capsys, kubeconfig, cluster, "suspend", "daily")[1] == \
        f"schedule {cluster.ns}/daily: already suspended, nothing changed\n"
    assert run(capsys, kubeconfig, cluster, "resume", "daily")[1] == \
        f"schedule {cluster.ns}/daily: resumed\n"
    assert cluster.schedule("daily")["spec"]["suspend"] is False
    code, _, err = run(capsys, kubeconfig, cluster, "resume", "hourly")
    assert code == 1 and "(HTTP 404)" in err
