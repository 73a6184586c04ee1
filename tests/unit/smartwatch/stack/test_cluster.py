"""Pure logic of the kind cluster tooling: the network's subnet, the --privileged shim, the
choice of node image, the cluster's name."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from smartwatch_dev import toolchain
from smartwatch_dev.stack import cluster as cl

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("taken", "expected"), [
    ([], "172.28.0.0/24"),
    (["172.28.0.0/24"], "172.28.1.0/24"),
    (["172.28.0.0/16"], "172.29.0.0/24"),
    (["10.0.0.0/8", "172.28.0.0/23", "172.28.2.5/32"], "172.28.3.0/24"),
    (["172.16.0.0/12"], None),
])
def test_the_network_takes_a_subnet_no_route_uses(taken: list[str], expected: str | None) -> None:
    if expected is None:
        with pytest.raises(RuntimeError, match="no free /24"):
            cl.free_subnet(taken)
    else:
        assert cl.free_subnet(taken) == expected


def shim_argv(tmp_path: Path, *args: str) -> list[str]:
    """What the shim hands the real docker (a script printing its arguments, one a line)."""
    real = tmp_path / "real-docker"
    real.write_text('#!/bin/bash\nprintf "%s\\n" "$@"\n')
    real.chmod(0o755)
    shim = tmp_path / "docker"
    shim.write_text(cl.SHIM.format(docker=real))
    shim.chmod(0o755)
    out = subprocess.run([str(shim), *args], capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def test_the_shim_replaces_privileged_in_docker_run(tmp_path: Path) -> None:
    argv = shim_argv(tmp_path, "run", "--name", "n", "--privileged", "--security-opt",
                     "seccomp=unconfined", "--cgroupns=private", "image:tag")
    assert argv == ["run", "--name", "n", "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
                    "--security-opt", "systempaths=unconfined", "--security-opt", "label=disable",
                    "--device-cgroup-rule=a *:* rwm", "--security-opt", "seccomp=unconfined",
                    "--cgroupns=private", "image:tag"]


def test_the_shim_drops_privileged_from_docker_exec(tmp_path: Path) -> None:
    assert shim_argv(tmp_path, "exec", "--privileged", "-i", "node", "cat", "/kind/version") == \
        ["exec", "-i", "node", "cat", "/kind/version"]


def test_the_shim_passes_everything_else_unchanged(tmp_path: Path) -> None:
    args = ["ps", "-a", "--filter", "label=io.x-k8s.kind.cluster=x", "--format", "{{.Names}} x"]
    assert shim_argv(tmp_path, *args) == args


@pytest.mark.parametrize(("setting", "private", "expected_local"), [
    ("", True, True), ("", False, False), ("local", False, True), ("public", True, False),
])
def test_the_node_image_follows_the_setting(monkeypatch, setting, private, expected_local) -> None:
    monkeypatch.setenv(cl.NODE_IMAGE_SETTING, setting)
    image, local = cl.Cluster.node_image(private=private)
    assert local is expected_local
    if expected_local:
        assert image == toolchain.kind_images()["node_image"]
    else:
        assert image == toolchain.versions()["KIND_NODE_IMAGE"]


def test_an_explicit_node_image_is_used_as_given(monkeypatch) -> None:
    monkeypatch.setenv(cl.NODE_IMAGE_SETTING, "example/node:v1")
    assert cl.Cluster.node_image(private=True) == ("example/node:v1", False)


def test_clusters_are_named_after_their_state_folder(tmp_path: Path) -> None:
    a, b = cl.Cluster(tmp_path / "a"), cl.Cluster(tmp_path / "b")
    assert a.name != b.name and a.name == cl.Cluster(tmp_path / "a").name
    assert a.kubeconfig == (tmp_path / "a" / "cluster" / "kubeconfig").resolve()
    assert len(a.bridge) <= 15  # a Linux interface name
