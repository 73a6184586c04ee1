"""The operator's k8s test bed: an injected clock, a namespace on the real kube-apiserver
with the real spark-operator CRD, the operator in-process (kopf's KopfRunner), and helpers to
read what it wrote. The tests play spark-operator: they patch the runs' status."""

from __future__ import annotations

import contextlib
import datetime as dt
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from smartwatch import k8s
from smartwatch_dev.stack.process import stop

GROUP, VERSION, PLURAL = k8s.SCHEDULES.coordinates
SPARK = k8s.SPARK_APPLICATIONS.coordinates[:2]
UTC = dt.UTC
IMAGE = "smartwatch-spark:0.1.0"



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
        body = {"apiVersion": k8s.SCHEDULES.api_version, "kind": k8s.SCHEDULES.kind,
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
        status = {"applicationState": {"state": state, "errorMessage": message}, "driverInfo": {},
                  "terminationTime": dt.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        self.custom.patch_namespaced_custom_object_status(*SPARK, self.ns, "sparkapplications",
                                                          run, {"status": status})

    def events(self, name: str) -> list[tuple[str, str, str]]:
        found = self.core.list_namespaced_event(self.ns,
                                                field_selector=f"involvedObject.name={name}")
        return [(e.type, e.reason, e.message) for e in found.items]


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {value!r}")
        time.sleep(every)


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
def runner(kubeconfig: Path, cluster: Cluster, tmp_path: Path) -> Iterator[Path]:
    """The local SparkApplication runner (`smartwatch spark-runner`) on the test's API server:
    it runs the SparkApplications the operator creates, from the checkout. Yields its state
    folder (its logs in spark-runner/)."""
    state = tmp_path / "state"
    log = tmp_path / "runner.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "smartwatch", "spark-runner",
                                 "--kubeconfig", str(kubeconfig), "--state-dir", str(state)],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield state
    finally:
        stop(proc.pid, None)
        proc.wait()
    assert proc.returncode == 0, log.read_text()


@pytest.fixture
def operator(kubeconfig: Path, cluster: Cluster):
    """`with operator(clock):` runs the operator, watching the test's namespace (standalone,
    or as a member of a kopf peering; with `dirty`, a DirtyCounter, counting dirty dates)."""
    from kopf.testing import KopfRunner

    from smartwatch_operator.handlers import OperatorConfig, build_registry

    @contextlib.contextmanager
    def run(clock: Clock, peering: str | None = None, dirty: Any = None,
            **config: Any) -> Iterator[None]:
        registry = build_registry(OperatorConfig(kubeconfig=kubeconfig, tick=0.3, clock=clock,
                                                 dirty=dirty, **config))
        mode = ["--peering", peering] if peering else ["--standalone"]
        with KopfRunner(["run", *mode, "--namespace", cluster.ns], registry=registry,
                        timeout=60):
            yield

    return run


def expected_app(ns: str, uid: str, name: str, args: list[str], labels: dict[str, str],
                  annotations: dict[str, str]) -> dict:
    env = [{"name": "SMARTWATCH_POSTGRES_DSN",
            "valueFrom": {"secretKeyRef": {"name": "pg", "key": "dsn"}}},
           {"name": "SMARTWATCH_LAKE_URI", "value": "s3a://lake/events"}]
    return {
        "metadata": {
            "name": name, "namespace": ns,
            "labels": {"app.kubernetes.io/managed-by": "smartwatch-operator", **labels},
            "annotations": annotations,
            "ownerReferences": [{"apiVersion": k8s.SCHEDULES.api_version,
                                 "kind": k8s.SCHEDULES.kind, "name": "daily", "uid": uid,
                                 "controller": True, "blockOwnerDeletion": True}]},
        "spec": {
            "type": "Python", "pythonVersion": "3", "mode": "cluster", "image": IMAGE,
            "imagePullPolicy": "IfNotPresent",
            "mainApplicationFile": "local:///opt/smartwatch/jobs/smartwatch_jobs/submit.py",
            "sparkVersion": "4.2.0", "restartPolicy": {"type": "Never"}, "arguments": args,
            "sparkConf": {"spark.sql.session.timeZone": "UTC"},
            "driver": {"cores": 1, "memory": "1g", "serviceAccount": "spark",
                       "labels": {"app.kubernetes.io/managed-by": "smartwatch-operator"},
                       "template": _pod_template("spark-kubernetes-driver", env)},
            "executor": {"cores": 1, "instances": 1, "memory": "1g",
                         "labels": {"app.kubernetes.io/managed-by": "smartwatch-operator"},
                         "template": _pod_template("spark-kubernetes-executor", env)}},
    }


def _pod_template(container: str, env: list[dict]) -> dict:
    """A run's driver or executor pod template, as docs/operator.md describes it."""
    return {"spec": {
        "enableServiceLinks": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": container, "env": env,
                        "securityContext": {"allowPrivilegeEscalation": False,
                                            "capabilities": {"drop": ["ALL"]}}}]}}


def schedule_status(cluster: Cluster, name: str) -> dict:
    return cluster.schedule(name).get("status") or {}


def condition(cluster: Cluster, name: str, kind: str) -> dict:
    return next((c for c in schedule_status(cluster, name).get("conditions", []) if c["type"] == kind),
                {})


def window_records(cluster: Cluster, name: str) -> dict[str, dict]:
    return {f"{r['kind']}:{r['window']}": r for r in schedule_status(cluster, name).get("windows", [])}


def started(cluster: Cluster, name: str, key: str = "nextRunTime") -> Any:
    return wait_for("the schedule's first status", lambda: schedule_status(cluster, name).get(key))


# Berlin is UTC+2 in June: "30 2 * * *" fires at 00:30 UTC for the day before.
JUNE = "2026-06-01T00:00:00+00:00"


