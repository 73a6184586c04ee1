"""The operator killed (SIGKILL, as `smartwatch operator` processes) while it creates a
backfill's runs, then started again, twice: on the real kube-apiserver with spark-operator's
real CRD, every backfill window gets exactly one SparkApplication, none twice. The test plays
spark-operator: it completes the runs, so the backfill moves on to later windows. (Before the
fix in the operator's loop, the restarted operator found its runs created and completed
already, and never looked again: the backfill stopped at its first windows.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from smartwatch_dev.stack.process import stop
from tests.k8s.operator_env import Cluster, wait_for

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(600)]

WINDOWS = 12


def _operator(kubeconfig: Path, cluster: Cluster, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "smartwatch", "operator", "--kubeconfig",
                                 str(kubeconfig), "--namespace", cluster.ns, "--liveness-port",
                                 "0", "--metrics-port", "0"], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _windows(cluster: Cluster) -> Counter:
    """Runs a window, counted by uid: a run deleted and created again counts twice."""
    return Counter(run["metadata"]["labels"]["smartwatch.dev/window"]
                   for run in {r["metadata"]["uid"]: r for r in cluster.runs().values()}.values())


def test_killed_while_creating_a_backfill_every_window_once(kubeconfig, cluster: Cluster,
                                                           tmp_path: Path) -> None:
    cluster.create_schedule("bf", schedule="0 5 * * *", timeZone="UTC", mode="lookback",
                            lookback=0, successfulRunsHistoryLimit=100,
                            backfill={"from": "2026-01-01", "to": "2026-01-12", "maxConcurrent": 4})
    log = tmp_path / "operator.log"
    for _ in range(2):  # killed twice, each time as soon as it has created a run more
        seen = len(cluster.runs())
        proc = _operator(kubeconfig, cluster, log)
        try:
            wait_for("a new run", lambda seen=seen: len(cluster.runs()) > seen, timeout=120,
                     every=0.02)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        for name in cluster.runs():  # spark-operator finishes what was created
            cluster.finish(name, "COMPLETED")
    proc = _operator(kubeconfig, cluster, log)
    try:
        deadline = time.monotonic() + 240
        while len(_windows(cluster)) < WINDOWS:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"windows so far: {_windows(cluster)}"
            for name, run in cluster.runs().items():
                if not (run.get("status") or {}).get("applicationState"):
                    cluster.finish(name, "COMPLETED")
            time.sleep(0.2)
        time.sleep(2)  # anything still on its way
        windows = _windows(cluster)
        assert sorted(windows) == [f"2026-01-{d:02d}" for d in range(1, WINDOWS + 1)]
        assert set(windows.values()) == {1}, windows
        assert all(name.startswith("bf-b") and "-r" not in name for name in cluster.runs())
    finally:
        stop(proc.pid, None)
        proc.wait()
