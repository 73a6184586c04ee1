"""The plain manifests on the real cluster, applied as docs/operator.md says, each apply once:
the CRDs, then the operator's folder (its namespace sorts first)."""

from __future__ import annotations

import subprocess

import pytest

from smartwatch_dev import toolchain
from smartwatch_dev.stack.cluster import Cluster

pytestmark = pytest.mark.kind

MANIFESTS = toolchain.REPO_ROOT / "manifests"


def kubectl(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(toolchain.kube_bin("kubectl")), "--kubeconfig", str(cluster.kubeconfig),
                           *args], capture_output=True, text=True, timeout=180)


def test_the_manifests_apply_on_the_first_try(kind_cluster: Cluster) -> None:
    try:
        crds = kubectl(kind_cluster, "apply", "-f", str(MANIFESTS / "crds"))
        assert crds.returncode == 0, crds.stderr
        waited = kubectl(kind_cluster, "wait", "--for", "condition=Established", "--timeout=60s",
                         "crd/aggregationschedules.smartwatch.dev", "crd/clusterkopfpeerings.kopf.dev",
                         "crd/kopfpeerings.kopf.dev")
        assert waited.returncode == 0, waited.stderr
        operator = kubectl(kind_cluster, "apply", "-f", str(MANIFESTS / "operator"))
        assert operator.returncode == 0, operator.stderr
        for kind, name in (("namespace", "smartwatch"), ("clusterkopfpeering", "smartwatch-operator"),
                           ("clusterrole", "smartwatch-operator")):
            got = kubectl(kind_cluster, "get", kind, name, "-o", "name")
            assert got.returncode == 0 and got.stdout.strip(), f"{kind}/{name}: {got.stderr}"
        deployments = kubectl(kind_cluster, "get", "deployments", "-n", "smartwatch", "-o", "name")
        assert deployments.stdout.split() == ["deployment.apps/smartwatch-operator"]
    finally:
        for folder in ("operator", "crds"):
            kubectl(kind_cluster, "delete", "--ignore-not-found", "--wait=false", "-f",
                    str(MANIFESTS / folder))
