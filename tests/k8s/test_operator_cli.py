"""`smartwatch operator` as its own process: it finds the schedules of the namespace it is told
to watch, serves /healthz and Prometheus metrics, and stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from smartwatch_dev.stack.process import free_port, stop
from smartwatch_dev.toolchain import REPO_ROOT

pytestmark = pytest.mark.k8s

GROUP, VERSION, PLURAL = "smartwatch.dev", "v1alpha1", "aggregationschedules"


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except OSError:
        return 0, ""


def test_the_operator_command_schedules_serves_health_and_metrics(
        kubeconfig: Path, kube_client, schedule_crd, spark_operator_crds, tmp_path: Path) -> None:
    from kubernetes import client

    core, custom = client.CoreV1Api(kube_client), client.CustomObjectsApi(kube_client)
    ns = f"cli-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": ns}})
    health, metrics = free_port(), free_port()
    log = tmp_path / "operator.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(REPO_ROOT / ".venv" / "bin" / "smartwatch"), "operator", "--kubeconfig", str(kubeconfig),
             "--namespace", ns, "--liveness-port", str(health), "--metrics-port", str(metrics),
             "--log-format", "json"], stdout=out, stderr=subprocess.STDOUT)
    try:
        custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "AggregationSchedule",
            "metadata": {"name": "weekly"},
            "spec": {"granularity": "weekly", "schedule": "0 3 * * 1", "lake": "file:///lake",
                     "postgres": {"secretName": "pg"}}})
        deadline = time.monotonic() + 60
        status: dict = {}
        while time.monotonic() < deadline and not status.get("nextRunTime"):
            assert proc.poll() is None, log.read_text()
            status = custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL,
                                                         "weekly").get("status") or {}
            time.sleep(0.5)
        assert status.get("nextRunTime"), log.read_text()
        # The next Monday 03:00 UTC.
        next_run = status["nextRunTime"]
        assert next_run.endswith("T03:00:00Z")
        assert time.strftime("%a", time.strptime(next_run, "%Y-%m-%dT%H:%M:%SZ")) == "Mon"
        assert _get(f"http://127.0.0.1:{health}/healthz")[0] == 200
        code, text = _get(f"http://127.0.0.1:{metrics}/metrics")
        assert code == 200 and "smartwatch_operator_reconcile_seconds_count" in text
    finally:
        stop(proc.pid, None)
        proc.wait()
        core.delete_namespace(ns)
    assert proc.returncode in (0, -signal.SIGTERM), log.read_text()
    assert '"message"' in log.read_text()  # JSON log lines
