"""The operator in-process (kopf's KopfRunner) against the real kube-apiserver, with the real
spark-operator CRD installed and an injected clock. The test plays spark-operator: it patches
the runs' status to COMPLETED or FAILED."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.k8s

GROUP, VERSION, PLURAL = "smartwatch.dev", "v1alpha1", "aggregationschedules"
SPARK = ("sparkoperator.k8s.io", "v1beta2")
UTC = dt.UTC
IMAGE = "apache/spark:4.2.0-scala2.13-java17-python3-ubuntu"


class Clock:
    """The operator's "now", moved by the test."""

    def __init__(self, start: str) -> None:
        self._now = dt.datetime.fromisoformat(start)
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            return self._now

    def set(self, when: str) -> None:
        with self._lock:
            self._now = dt.datetime.fromisoformat(when)

    def advance(self, **delta: float) -> None:
        with self._lock:
            self._now += dt.timedelta(**delta)


class Cluster:
    """Calls the test makes, in one namespace."""

    def __init__(self, api_client, namespace: str) -> None:
        from kubernetes import client

        self.ns = namespace
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)

    def create_schedule(self, name: str, **spec: Any) -> dict:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AggregationSchedule",
                "metadata": {"name": name},
                "spec": {"granularity": "daily", "schedule": "30 2 * * *",
                         "timeZone": "Europe/Berlin", "lake": "s3a://lake/events",
                         "postgres": {"secretName": "pg"}, **spec}}
        return self.custom.create_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, body)

    def schedule(self, name: str) -> dict:
        return self.custom.get_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name)

    def patch_schedule(self, name: str, body: dict) -> None:
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name, body)

    def runs(self) -> dict[str, dict]:
        items = self.custom.list_namespaced_custom_object(*SPARK, self.ns, "sparkapplications")
        return {i["metadata"]["name"]: i for i in items["items"]}

    def finish(self, run: str, state: str, message: str = "") -> None:
        """Play spark-operator: the run ends COMPLETED or FAILED."""
        status = {"applicationState": {"state": state, "errorMessage": message},
                  "terminationTime": dt.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        self.custom.patch_namespaced_custom_object_status(*SPARK, self.ns, "sparkapplications",
                                                          run, {"status": status})

    def events(self, name: str) -> list[tuple[str, str, str]]:
        found = self.core.list_namespaced_event(self.ns,
                                                field_selector=f"involvedObject.name={name}")
        return [(e.type, e.reason, e.message) for e in found.items]


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {value!r}")
        time.sleep(0.2)


def stays(what: str, check: Callable[[], bool], seconds: float = 2.0) -> None:
    """`check` holds for `seconds` (several of the operator's ticks)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert check(), what
        time.sleep(0.2)


@pytest.fixture
def cluster(kube_client, schedule_crd, spark_operator_crds) -> Iterator[Cluster]:
    from kubernetes import client

    core = client.CoreV1Api(kube_client)
    ns = f"op-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": ns}})
    try:
        yield Cluster(kube_client, ns)
    finally:
        core.delete_namespace(ns)


@pytest.fixture
def operator(kubeconfig: Path, cluster: Cluster):
    """`with operator(clock):` runs the operator, watching the test's namespace."""
    from kopf.testing import KopfRunner

    from smartwatch_operator.handlers import OperatorConfig, build_registry

    @contextlib.contextmanager
    def run(clock: Clock) -> Iterator[None]:
        registry = build_registry(OperatorConfig(kubeconfig=kubeconfig, tick=0.3, clock=clock))
        with KopfRunner(["run", "--standalone", "--namespace", cluster.ns],
                        registry=registry, timeout=60):
            yield

    return run


def _expected_app(ns: str, uid: str, name: str, args: list[str], labels: dict[str, str],
                  annotations: dict[str, str]) -> dict:
    env = [{"name": "SMARTWATCH_POSTGRES_DSN",
            "valueFrom": {"secretKeyRef": {"name": "pg", "key": "dsn"}}},
           {"name": "SMARTWATCH_LAKE_URI", "value": "s3a://lake/events"}]
    return {
        "metadata": {
            "name": name, "namespace": ns,
            "labels": {"app.kubernetes.io/managed-by": "smartwatch-operator", **labels},
            "annotations": annotations,
            "ownerReferences": [{"apiVersion": "smartwatch.dev/v1alpha1",
                                 "kind": "AggregationSchedule", "name": "daily", "uid": uid,
                                 "controller": True, "blockOwnerDeletion": True}]},
        "spec": {
            "type": "Python", "pythonVersion": "3", "mode": "cluster", "image": IMAGE,
            "imagePullPolicy": "IfNotPresent",
            "mainApplicationFile": "local:///opt/smartwatch/jobs/smartwatch_jobs/submit.py",
            "sparkVersion": "4.2.0", "restartPolicy": {"type": "Never"}, "arguments": args,
            "sparkConf": {"spark.sql.session.timeZone": "UTC"},
            "driver": {"cores": 1, "memory": "1g", "serviceAccount": "spark", "env": env},
            "executor": {"cores": 1, "instances": 1, "memory": "1g", "env": env}},
    }


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
    expected = _expected_app(
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
