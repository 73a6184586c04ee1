"""The kind tier's cluster: one per session, the checkout's own (`.stack/test`), made by the
same code as `smartwatch cluster up` and removed at the end, engine and all."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smartwatch_dev import toolchain
from smartwatch_dev.stack.cluster import Cluster

STATE = toolchain.REPO_ROOT / ".stack" / "test"


class Kube:
    """kubectl on the test cluster, in one namespace of the test's own."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.base = [str(toolchain.kube_bin("kubectl")), "--kubeconfig", str(cluster.kubeconfig)]

    def __call__(self, *args: str, input: str | None = None, check: bool = True,
                 timeout: float = 120, namespaced: bool = True) -> subprocess.CompletedProcess[str]:
        ns = ["--namespace", self.namespace] if namespaced else []
        done = subprocess.run([*self.base, *ns, *args], input=input, capture_output=True,
                              text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done

    def apply(self, manifest: str) -> None:
        self("apply", "-f", "-", input=manifest)

    def json(self, *args: str, namespaced: bool = True) -> Any:
        return json.loads(self("get", *args, "-o", "json", namespaced=namespaced).stdout)

    def wait_pod_done(self, name: str, timeout: float = 180) -> str:
        """Wait until a pod has ended; its phase."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            phase = self.json("pod", name)["status"].get("phase")
            if phase in ("Succeeded", "Failed"):
                return str(phase)
            time.sleep(1)
        raise AssertionError(f"pod {name} still running after {timeout:.0f}s: "
                             f"{self('describe', 'pod', name, check=False).stdout[-2000:]}")


@pytest.fixture(scope="session")
def kind_cluster() -> Iterator[Cluster]:
    cluster = Cluster(STATE)
    cluster.up(report=print)
    try:
        yield cluster
    finally:
        cluster.down(report=print)
    left = cluster.leftovers()
    assert left == [], f"the kind cluster left these behind: {left}"


@pytest.fixture(scope="module")
def kube(kind_cluster: Cluster) -> Iterator[Kube]:
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    k = Kube(kind_cluster, namespace)
    k("create", "namespace", namespace, namespaced=False)
    try:
        yield k
    finally:
        k("delete", "namespace", namespace, "--wait=false", namespaced=False, check=False)


def build_web_image(cluster: Cluster, tmp: Path) -> str:
    """The test web server (tests/kind/web) built with `docker build` on the cluster's Debian
    base, loaded into the node with `kind load`; its reference."""
    ctx = tmp / "web-image"
    ctx.mkdir()
    env = {"CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod",
           **toolchain.go_env(), "HOME": str(tmp),
           "PATH": os.environ["PATH"]}  # the go that make setup found, not a login shell's
    subprocess.run(["go", "build", "-o", str(ctx / "web"), str(Path(__file__).parent / "web" / "main.go")],
                   check=True, env=env, timeout=300)
    (ctx / "Dockerfile").write_text("ARG BASE\nFROM ${BASE}\nCOPY web /usr/local/bin/web\n"
                                    "USER 65532\nENTRYPOINT [\"/usr/local/bin/web\"]\n")
    ref = f"smartwatch-test/web:{uuid.uuid4().hex[:8]}"
    cluster.docker("build", "--build-arg", f"BASE={cluster.base_image()}", "-t", ref, str(ctx))
    cluster.load_image(ref)
    return ref
