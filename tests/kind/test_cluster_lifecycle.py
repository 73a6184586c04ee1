"""`smartwatch cluster up|down|status`, run as a user runs them, in state folders of their own:
nothing of the cluster is left after `down`, nor after a Ctrl-C of `up`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartwatch_dev import toolchain
from smartwatch_dev.stack.cluster import KIND_LABEL, Cluster
from smartwatch_dev.stack.engine import answers, docker_env

pytestmark = pytest.mark.kind

SMARTWATCH = [sys.executable, "-m", "smartwatch"]


def cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SMARTWATCH, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=toolchain.REPO_ROOT)


def mounts_under(*roots: Path) -> list[str]:
    prefixes = tuple(str(r) + "/" for r in roots)
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if line.split()[4].startswith(prefixes)]


def assert_nothing_left(cluster: Cluster) -> None:
    assert cluster.leftovers() == []
    assert mounts_under(cluster.state, cluster.private.run_dir) == []
    assert not cluster.private.run_dir.exists()
    assert not Path(f"/sys/class/net/{cluster.bridge}").exists()
    if answers(None):  # an engine of the machine's own: no container or network of ours on it
        env = docker_env(None)
        ps = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={KIND_LABEL}={cluster.name}"],
                            env=env, capture_output=True, text=True, check=True)
        assert ps.stdout.strip() == ""


@pytest.fixture
def state() -> Iterator[Path]:
    path = toolchain.REPO_ROOT / ".stack" / f"test-cluster-{uuid.uuid4().hex[:6]}"
    yield path
    Cluster(path).down()
    subprocess.run(["rm", "-rf", str(path)], check=False)


def test_up_status_and_down_leave_nothing_behind(state: Path) -> None:
    up = cli("cluster", "up", "--state-dir", str(state))
    assert up.returncode == 0, up.stdout + up.stderr
    status = cli("cluster", "status", "--json", "--state-dir", str(state))
    assert status.returncode == 0, status.stdout + status.stderr
    report = json.loads(status.stdout)
    cluster = Cluster(state)
    assert report["name"] == cluster.name and report["health"] == "ok"
    assert report["kubeconfig"] == str(cluster.kubeconfig)
    assert Path(report["kubeconfig"]).is_relative_to(state)
    assert report["context"] == f"kind-{cluster.name}"
    kubeconfig = Path(report["kubeconfig"]).read_text()
    assert report["context"] in kubeconfig
    if report["engine"] == "private":
        assert report["docker_host"] == cluster.private.host
        assert (state / "cluster" / "docker" / "data").is_dir()
    down = cli("cluster", "down", "--state-dir", str(state))
    assert down.returncode == 0, down.stdout + down.stderr
    assert_nothing_left(cluster)
    left = cli("cluster", "leftovers", "--state-dir", str(state))
    assert left.returncode == 0 and left.stdout == ""
    after = cli("cluster", "status", "--state-dir", str(state))
    assert after.returncode == 1 and "down" in after.stdout


def test_ctrl_c_of_up_removes_the_cluster_and_its_engine(state: Path) -> None:
    cluster = Cluster(state)
    proc = subprocess.Popen([*SMARTWATCH, "cluster", "up", "--state-dir", str(state)],
                            cwd=toolchain.REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    # Interrupt once the node container exists: the middle of kind's work.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        record = cluster._load()
        if record and answers(cluster.docker_host(record), timeout=3):
            found = subprocess.run(
                ["docker", "ps", "-q", "--filter", f"label={KIND_LABEL}={cluster.name}"],
                env=docker_env(cluster.docker_host(record)), capture_output=True, text=True)
            if found.stdout.strip():
                break
        time.sleep(0.2)
    assert proc.poll() is None, f"cluster up ended before the node existed:\n{proc.communicate()[0]}"
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 130, out
    assert "removing what was made" in out
    assert_nothing_left(cluster)
