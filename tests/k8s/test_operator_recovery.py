"""The operator recovering: failed windows retried with backoff, an invalid spec reported and
fixed, replicas sharing the work through a kopf peering (against the real kube-apiserver)."""

from __future__ import annotations

import pytest

from tests.k8s.operator_env import (
    JUNE,
    Clock,
    condition,
    schedule_status,
    started,
    stays,
    wait_for,
    window_records,
)

pytestmark = pytest.mark.k8s


def test_failed_windows_are_retried_with_backoff_and_status_follows(cluster, operator):
    clock = Clock(JUNE)
    with operator(clock):
        cluster.create_schedule("daily", retry={"limit": 2, "backoffSeconds": 60})
        started(cluster, "daily")
        clock.set("2026-06-01T00:31:00+00:00")
        wait_for("the run", lambda: "daily-s20260531" in cluster.runs())
        cluster.finish("daily-s20260531", "FAILED", "driver OOM")
        record = wait_for("retrying", lambda: (r := window_records(cluster, "daily")
                                               .get("s:2026-05-31")) and
                          r["state"] == "Retrying" and r)
        assert record["nextAttemptTime"] == "2026-06-01T00:32:00Z"
        failing = condition(cluster, "daily", "Failing")
        assert (failing["status"], failing["reason"]) == ("True", "Retrying")
        assert schedule_status(cluster, "daily")["recentFailures"][-1]["message"] == "driver OOM"
        stays("no retry before the backoff", lambda: len(cluster.runs()) == 1, 1.0)
        clock.set("2026-06-01T00:32:01+00:00")
        wait_for("the first retry", lambda: "daily-s20260531-r1" in cluster.runs())
        cluster.finish("daily-s20260531-r1", "FAILED", "driver OOM")
        record = wait_for("retrying again", lambda: (r := window_records(cluster, "daily")
                                                     .get("s:2026-05-31")) and
                          r.get("failures") == 2 and r)
        assert record["nextAttemptTime"] == "2026-06-01T00:34:01Z"  # twice the backoff
        clock.set("2026-06-01T00:34:02+00:00")
        wait_for("the second retry", lambda: "daily-s20260531-r2" in cluster.runs())
        cluster.finish("daily-s20260531-r2", "COMPLETED")
        wait_for("succeeded", lambda: schedule_status(cluster, "daily").get("lastSuccessfulWindow")
                 == "2026-05-31")
        wait_for("not failing", lambda: condition(cluster, "daily", "Failing")
                 .get("status") == "False")
        events = cluster.events("daily")
        assert sum(1 for e in events if e[1] == "RunFailed") == 2
        assert ("Normal", "RunSucceeded", "daily-s20260531-r2 computed window 2026-05-31") in events


def test_an_invalid_spec_is_reported_and_recovers_when_fixed(cluster, operator):
    clock = Clock(JUNE)
    with operator(clock):
        cluster.create_schedule("daily", schedule="75 2 * * *")  # the form passes the server
        ready = wait_for("Ready false", lambda: (c := condition(cluster, "daily", "Ready"))
                         and c["status"] == "False" and c)
        assert ready["reason"] == "InvalidSpec" and "minute" in ready["message"]
        assert any(e[1] == "InvalidSpec" for e in cluster.events("daily"))
        cluster.patch_schedule("daily", {"spec": {"schedule": "30 2 * * *"}})
        wait_for("Ready true", lambda: condition(cluster, "daily", "Ready")
                 .get("status") == "True")
        clock.set("2026-06-01T00:31:00+00:00")
        wait_for("the run", lambda: list(cluster.runs()) == ["daily-s20260531"])


def test_replicas_share_the_work_through_a_kopf_peering(cluster, operator, kube_client):
    from smartwatch_dev.stack.crds import apply_crds
    from smartwatch_dev.toolchain import REPO_ROOT

    apply_crds(kube_client, [REPO_ROOT / "manifests" / "crds" / "kopf-peerings.kopf.dev.yaml"])
    cluster.custom.create_namespaced_custom_object("kopf.dev", "v1", cluster.ns, "kopfpeerings", {
        "apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "ops"}})
    clock = Clock(JUNE)
    with operator(clock, peering="ops"):
        cluster.create_schedule("daily")
        started(cluster, "daily")
        peering = cluster.custom.get_namespaced_custom_object("kopf.dev", "v1", cluster.ns,
                                                              "kopfpeerings", "ops")
        assert peering.get("status"), "the operator did not announce itself in the peering"
        clock.set("2026-06-01T00:31:00+00:00")
        wait_for("the run", lambda: list(cluster.runs()) == ["daily-s20260531"])


def test_a_run_unstarted_past_its_deadline_is_failed_and_the_next_window_runs(cluster, operator):
    """No spark-operator here: the runs stay unstarted. Past deadlines.startSeconds the run is
    deleted and failed, with the deadline and its last state in the Failing condition and an
    Event; with no retries left, the window waiting behind it (Forbid) runs."""
    clock = Clock(JUNE)
    with operator(clock):
        cluster.create_schedule("daily", retry={"limit": 0}, deadlines={"startSeconds": 600})
        started(cluster, "daily")
        clock.set("2026-06-01T00:31:00+00:00")
        wait_for("the first run", lambda: "daily-s20260531" in cluster.runs())
        clock.set("2026-06-01T00:40:59+00:00")
        stays("within its deadline", lambda: list(cluster.runs()) == ["daily-s20260531"], 1.0)
        clock.set("2026-06-02T00:30:30+00:00")  # the next fire, and past the first deadline
        wait_for("the next window's run", lambda: list(cluster.runs()) == ["daily-s20260601"])
        failing = wait_for("Failing", lambda: (c := condition(cluster, "daily", "Failing"))
                           .get("status") == "True" and c)
        reason = "not started within deadlines.startSeconds (600 s); spark-operator never " \
                 "reported it"
        assert failing["reason"] == "RetriesExhausted" and reason in failing["message"]
        assert any(e[:2] == ("Warning", "RunDeadlineExceeded") and reason in e[2]
                   and e[2].startswith("daily-s20260531 failed for window 2026-05-31")
                   for e in cluster.events("daily"))
    assert window_records(cluster, "daily")["s:2026-05-31"]["state"] == "Failed"


def test_without_spark_operator_a_schedule_says_so_and_runs_once_it_is_installed(
        cluster, operator, kube_client):
    """The SparkApplication CRD taken away (as on a cluster without spark-operator): the due
    window stays Pending and Ready is False naming spark-operator, with no crash loop; the
    CRD put back, the run is created."""
    from kubernetes import client

    from smartwatch import k8s
    from smartwatch_dev.stack.crds import apply_crds
    from tests.k8s.conftest import SPARK_OPERATOR_CRDS, third_party_crds

    crds = sorted(third_party_crds(SPARK_OPERATOR_CRDS).glob("*.yaml"))
    ext = client.ApiextensionsV1Api(kube_client)
    name = f"{k8s.SPARK_APPLICATIONS.plural}.{k8s.SPARK_APPLICATIONS.group}"
    ext.delete_custom_resource_definition(name)
    try:
        wait_for("the CRD gone", lambda: name not in {
            c.metadata.name for c in ext.list_custom_resource_definition().items}, 60)
        clock = Clock(JUNE)
        with operator(clock, spark_check_seconds=0.5):
            cluster.create_schedule("daily")
            started(cluster, "daily")
            clock.set("2026-06-01T00:31:00+00:00")
            ready = wait_for("Ready false", lambda: (c := condition(cluster, "daily", "Ready"))
                             .get("status") == "False" and c)
            assert ready["reason"] == "SparkOperatorMissing"
            assert "install spark-operator" in ready["message"]
            wait_for("the due window Pending", lambda: window_records(cluster, "daily")
                     .get("s:2026-05-31", {}).get("state") == "Pending")
            stays("held back", lambda: window_records(cluster, "daily")["s:2026-05-31"]["state"]
                  == "Pending", 1.5)
            apply_crds(kube_client, crds)
            wait_for("the run", lambda: list(cluster.runs()) == ["daily-s20260531"], 60)
            wait_for("Ready true", lambda: condition(cluster, "daily", "Ready")
                     .get("status") == "True")
    finally:
        apply_crds(kube_client, crds)  # as the other tests expect it


def test_a_schedule_outside_the_policy_gets_the_condition_and_no_run(cluster, operator):
    """The operator allows the project's Spark image, the `spark` service account and the
    `pg` Secret: a schedule naming another image is held with Ready False naming the field and
    the policy, and runs nothing; with the image fixed, its due window runs."""
    from smartwatch_operator.policy import RunPolicy

    policy = RunPolicy(images=("smartwatch-spark:*",), service_accounts=("spark",),
                       secrets=("pg",))
    clock = Clock(JUNE)
    with operator(clock, policy=policy):
        cluster.create_schedule("daily", spark={"image": "evil/miner:1"})
        started(cluster, "daily")
        clock.set("2026-06-01T00:31:00+00:00")
        ready = wait_for("Ready false", lambda: (c := condition(cluster, "daily", "Ready"))
                         .get("reason") == "PolicyViolation" and c)
        assert ready["status"] == "False"
        assert ready["message"] == ("spec.spark.image 'evil/miner:1' is not allowed by the "
                                    "operator's policy (allowed images: smartwatch-spark:*)")
        wait_for("the due window held", lambda: window_records(cluster, "daily")
                 .get("s:2026-05-31", {}).get("state") == "Pending")
        stays("no run", lambda: cluster.runs() == {}, 1.5)
        cluster.patch_schedule("daily", {"spec": {"spark": {"image": "smartwatch-spark:0.1.0"}}})
        wait_for("the run", lambda: list(cluster.runs()) == ["daily-s20260531"])
        assert condition(cluster, "daily", "Ready")["status"] == "True"


def test_an_operator_watching_one_namespace_leaves_another_untouched(cluster, operator,
                                                                     kube_client):
    """The operator serves the test's namespace only (--namespace, as the chart's
    operator.watchNamespaces passes it): a due schedule in another namespace gets no status and
    no run, while the watched one runs."""
    import uuid

    from kubernetes import client

    from tests.k8s.operator_env import Cluster

    core = client.CoreV1Api(kube_client)
    other = Cluster(kube_client, f"other-{uuid.uuid4().hex[:8]}")
    core.create_namespace({"metadata": {"name": other.ns}})
    try:
        other.create_schedule("daily")
        clock = Clock(JUNE)
        with operator(clock):
            cluster.create_schedule("daily")
            started(cluster, "daily")
            clock.set("2026-06-01T00:31:00+00:00")
            wait_for("the watched schedule's run", lambda: "daily-s20260531" in cluster.runs())
            stays("the other namespace untouched", lambda: other.runs() == {}
                  and not other.schedule("daily").get("status")
                  and not other.schedule("daily")["metadata"].get("finalizers"), 1.5)
    finally:
        core.delete_namespace(other.ns)
