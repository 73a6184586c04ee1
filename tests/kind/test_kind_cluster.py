"""End to end on a kind cluster: needs a Docker engine, so it runs only where one exists."""

import subprocess
import uuid

import pytest

from smartwatch import toolchain

pytestmark = pytest.mark.kind


def test_kind_cluster_comes_up_with_the_pinned_node_image() -> None:
    name = f"smartwatch-{uuid.uuid4().hex[:6]}"
    kind = str(toolchain.kind_bin())
    image = toolchain.versions()["KIND_NODE_IMAGE"]
    subprocess.run([kind, "create", "cluster", "--name", name, "--image", image, "--wait", "120s"],
                   check=True, timeout=600)
    try:
        nodes = subprocess.run([str(toolchain.kube_bin("kubectl")), "--context", f"kind-{name}",
                                "get", "nodes", "-o", "name"], check=True, capture_output=True,
                               text=True, timeout=60).stdout.split()
        assert nodes == [f"node/{name}-control-plane"]
    finally:
        subprocess.run([kind, "delete", "cluster", "--name", name], timeout=300)
