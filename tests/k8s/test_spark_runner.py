"""The local SparkApplication runner (`smartwatch spark-runner`) on a real kube-apiserver
with spark-operator's real CRD: it runs each application's main file with its arguments and
environment, and writes the status spark-operator writes. The main files here are small
Python scripts (and the project's submit.py with a command that needs no Spark)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.k8s.operator_env import SPARK, Cluster, wait_for

pytestmark = pytest.mark.k8s

SCRIPT = '''\
import os, sys, time
mode = sys.argv[1]
if mode == "ok":
    with open(os.environ["OUT"], "w") as f:
        f.write(" ".join(sys.argv[1:]) + "|" + os.environ["PLAIN"] + "|" + os.environ["DSN"]
                + "|" + os.environ["SMARTWATCH_SPARK_DRIVER_MEMORY"])
    time.sleep(float(os.environ.get("SLEEP", "0")))
    sys.exit(0)
with open(os.environ["SMARTWATCH_TERMINATION_LOG"], "w") as f:
    f.write("smartwatch aggregate: it broke")
sys.exit(3)
'''


def _create(cluster: Cluster, name: str, main: str, args: list[str], env: list[dict]) -> None:
    cluster.custom.create_namespaced_custom_object(*SPARK, cluster.ns, "sparkapplications", {
        "apiVersion": "/".join(SPARK), "kind": "SparkApplication",
        "metadata": {"name": name},
        "spec": {"type": "Python", "mode": "cluster", "image": "smartwatch-spark:0.1.0",
                 "mainApplicationFile": main, "sparkVersion": "4.2.0", "arguments": args,
                 "restartPolicy": {"type": "Never"},
                 "driver": {"cores": 1, "memory": "1536m", "template": {"spec": {"containers": [
                     {"name": "spark-kubernetes-driver", "env": env}]}}},
                 "executor": {"instances": 1}}})


def _finished(cluster: Cluster, name: str) -> dict:
    def done():
        status = cluster.runs()[name].get("status") or {}
        state = (status.get("applicationState") or {}).get("state")
        return status if state in ("COMPLETED", "FAILED", "SUBMISSION_FAILED") else None
    return wait_for(f"{name} to finish", done, timeout=60)


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _secret(cluster: Cluster) -> None:
    cluster.core.create_namespaced_secret(cluster.ns, {
        "metadata": {"name": "pg"}, "stringData": {"dsn": "postgresql://u:secret@h/db"}})


def test_a_run_gets_its_arguments_and_environment_and_completes(runner: Path, cluster: Cluster,
                                                                 tmp_path: Path) -> None:
    main = tmp_path / "main.py"
    main.write_text(SCRIPT)
    out = tmp_path / "out.txt"
    _secret(cluster)
    _create(cluster, "good", f"local://{main}", ["ok", "--granularity", "daily"], [
        {"name": "PLAIN", "value": "plain"}, {"name": "OUT", "value": str(out)},
        {"name": "DSN", "valueFrom": {"secretKeyRef": {"name": "pg", "key": "dsn"}}}])
    status = _finished(cluster, "good")
    assert status["applicationState"]["state"] == "COMPLETED"
    assert out.read_text() == "ok --granularity daily|plain|postgresql://u:secret@h/db|1536m"
    assert status["submissionAttempts"] == 1 and status["executionAttempts"] == 1
    assert _time(status["lastSubmissionAttemptTime"]) <= _time(status["terminationTime"])
    assert (runner / "spark-runner" / f"{cluster.ns}.good.log").exists()


def test_a_failed_run_carries_the_drivers_error_line(runner: Path, cluster: Cluster,
                                                     tmp_path: Path) -> None:
    main = tmp_path / "main.py"
    main.write_text(SCRIPT)
    _create(cluster, "bad", str(main), ["fail"], [])
    status = _finished(cluster, "bad")
    assert status["applicationState"] == {
        "state": "FAILED", "errorMessage": "driver exited with code 3: smartwatch aggregate: it broke"}


def test_what_cannot_start_is_a_submission_failure_naming_why(runner: Path, cluster: Cluster,
                                                             tmp_path: Path) -> None:
    main = tmp_path / "main.py"
    main.write_text(SCRIPT)
    _create(cluster, "nosecret", str(main), ["ok"], [
        {"name": "DSN", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "dsn"}}}])
    _create(cluster, "nofile", "local:///opt/smartwatch/jobs/missing.py", [], [])
    assert _finished(cluster, "nosecret")["applicationState"] == {
        "state": "SUBMISSION_FAILED",
        "errorMessage": f"env DSN: secret {cluster.ns}/absent not found"}
    message = _finished(cluster, "nofile")["applicationState"]["errorMessage"]
    assert message.startswith("spec.mainApplicationFile 'local:///opt/smartwatch/jobs/missing.py'")


def test_the_images_submit_py_runs_from_the_checkout_one_run_at_a_time(
        runner: Path, cluster: Cluster, tmp_path: Path) -> None:
    submit = "local:///opt/smartwatch/jobs/smartwatch_jobs/submit.py"
    _create(cluster, "first", submit, ["aggregate", "--help"], [])
    _create(cluster, "second", submit, ["aggregate", "--help"], [])
    first, second = _finished(cluster, "first"), _finished(cluster, "second")
    assert first["applicationState"]["state"] == second["applicationState"]["state"] == "COMPLETED"
    log = (runner / "spark-runner" / f"{cluster.ns}.first.log").read_text()
    assert "usage: smartwatch aggregate" in log and "--granularity" in log  # the job's help
    # One at a time (the default): the second started once the first had ended.
    assert _time(second["lastSubmissionAttemptTime"]) >= _time(first["terminationTime"])
