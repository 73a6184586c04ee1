"""skaffold.yaml's kind profile on the kind cluster: `skaffold run -p kind` (the pinned
skaffold, built by make setup) builds the images with the cluster's engine through
`smartwatch cluster image`, loads them into the node and installs the chart, and the API
answers; a change under services/ then reaches the running API pod, with a new image tag,
through a second `skaffold run`. It runs in a copy of the checkout, which it changes."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from smartwatch_dev import toolchain
from smartwatch_dev.stack.cluster import Cluster
from tests.figures import record
from tests.k8s.operator_env import wait_for
from tests.kind.chart_release import port_forward
from tests.kind.conftest import Kube

pytestmark = [pytest.mark.kind, pytest.mark.e2e]

NAMESPACE = "smartwatch"  # skaffold.yaml's release
#: skaffold's own settings: no usage metrics, no update check, no survey (nothing leaves the
#: machine), instead of the user's ~/.skaffold/config.
GLOBAL_CONFIG = """global:
  collect-metrics: false
  update-check: false
  survey:
    disable-prompt: true
kubeContexts: []
"""


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout's files (tracked and new, not ignored), with its .venv."""
    root = toolchain.REPO_ROOT
    dest = tmp_path_factory.mktemp("skaffold") / "checkout"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = root / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name, follow_symlinks=False)
    (dest / ".venv").symlink_to(root / ".venv")
    (dest / "skaffold-config").write_text(GLOBAL_CONFIG)
    return dest


@pytest.fixture(scope="module")
def skaffold(kind_cluster: Cluster, checkout: Path) -> Iterator:
    env = {**os.environ, **kind_cluster.tool_env()}
    base = [str(toolchain.skaffold_bin()), "-c", str(checkout / "skaffold-config"),
            "--update-check=false", "--interactive=false"]

    def run(*args: str, timeout: float = 1800) -> tuple[subprocess.CompletedProcess[str], float]:
        started = time.monotonic()
        done = subprocess.run([base[0], *args, *base[1:]], cwd=checkout, env=env, text=True,
                              capture_output=True, timeout=timeout)
        return done, time.monotonic() - started

    try:
        yield run
    finally:
        run("delete", "-p", "kind", timeout=600)
        Kube(kind_cluster, NAMESPACE)("delete", "namespace", NAMESPACE, "--wait=false",
                                      namespaced=False, check=False)


def api_image(kube: Kube) -> str:
    deployment = kube.json("deployment", "smartwatch-api")
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def api_answers(kube: Kube) -> bool:
    with port_forward(kube, "svc/smartwatch-api", 8000) as url:
        return httpx.get(f"{url}/readyz", timeout=10).status_code == 200


@pytest.mark.timeout(3000)  # two skaffold runs, each building the images it changes
def test_skaffold_run_installs_the_chart_and_a_change_under_services_reaches_the_pod(
        kind_cluster: Cluster, checkout: Path, skaffold) -> None:
    kube = Kube(kind_cluster, NAMESPACE)
    done, seconds = skaffold("run", "-p", "kind")
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    record("skaffold run -p kind, from a clean namespace", f"{seconds:.0f} s")
    assert api_answers(kube)
    first = api_image(kube)
    assert first.startswith("smartwatch:")

    marker = f"# skaffold dev loop check {uuid.uuid4().hex}"
    source = checkout / "services" / "smartwatch" / "__init__.py"
    source.write_text(source.read_text() + marker + "\n")
    done, seconds = skaffold("run", "-p", "kind")
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    record("skaffold run -p kind after a change under services/", f"{seconds:.0f} s")
    second = api_image(kube)
    assert second != first and second.startswith("smartwatch:")

    def rolled() -> bool:
        pods = kube.json("pods", "-l", "app.kubernetes.io/component=api")["items"]
        return bool(pods) and all(
            p["spec"]["containers"][0]["image"] == second and p["status"].get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp") for p in pods)

    wait_for("the API pods on the new image", rolled, 300, every=3)
    shown = kube("exec", "deploy/smartwatch-api", "--", "python", "-c",
                 "import smartwatch, pathlib; print(pathlib.Path(smartwatch.__file__).read_text())")
    assert marker in shown.stdout
    assert api_answers(kube)
