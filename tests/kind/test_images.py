"""The project's `smartwatch` image, built here on the cluster's Debian base, in pods of the
real cluster: it runs as its own user on a read-only root filesystem with no capabilities,
and a pod missing a required setting stops with one line naming it."""

from __future__ import annotations

import json

import pytest

from smartwatch.stack import images
from smartwatch.stack.cluster import Cluster
from tests.kind.conftest import Kube

pytestmark = pytest.mark.kind

RESTRICTED = {"runAsNonRoot": True, "readOnlyRootFilesystem": True,
              "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
              "seccompProfile": {"type": "RuntimeDefault"}}


@pytest.fixture(scope="module")
def smartwatch_image(kind_cluster: Cluster) -> str:
    return images.build(kind_cluster, "smartwatch", report=print)


def run_pod(kube: Kube, name: str, image: str, *, args: list[str] | None = None,
            command: list[str] | None = None) -> tuple[str, int, str]:
    """A restricted pod run once: (phase, exit code, logs)."""
    container = {"name": "main", "image": image, "imagePullPolicy": "Never",
                 "securityContext": RESTRICTED}
    if args is not None:
        container["args"] = args
    if command is not None:
        container["command"] = command
    kube.apply(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                           "spec": {"restartPolicy": "Never", "containers": [container]}}))
    phase = kube.wait_pod_done(name)
    state = kube.json("pod", name)["status"]["containerStatuses"][0]["state"]["terminated"]
    return phase, int(state["exitCode"]), kube("logs", name).stdout.strip()


@pytest.mark.parametrize(("args", "line"), [
    (["api"], "smartwatch: SMARTWATCH_KAFKA_BOOTSTRAP is required by the API"),
    (["db", "migrate"], "smartwatch db migrate: SMARTWATCH_POSTGRES_DSN is not set"),
])
def test_a_pod_missing_a_required_setting_stops_naming_it(kube: Kube, smartwatch_image: str,
                                                          args: list[str], line: str) -> None:
    phase, code, logs = run_pod(kube, f"missing-{args[0]}", smartwatch_image, args=args)
    assert phase == "Failed" and code != 0
    assert logs == line


def test_the_image_runs_as_its_own_user_on_a_read_only_root(kube: Kube,
                                                            smartwatch_image: str) -> None:
    script = ("import errno, os, smartwatch.api.main, smartwatch_operator.main\n"
              "try:\n    open('/probe', 'w')\nexcept OSError as e:\n    err = errno.errorcode[e.errno]\n"
              "print(os.getuid(), os.getgid(), err, open('/proc/self/status').read()"
              ".split('CapEff:')[1].split()[0])\n")
    phase, code, logs = run_pod(kube, "whoami", smartwatch_image, command=["python", "-c", script])
    assert (phase, code) == ("Succeeded", 0), logs
    assert logs.split() == ["10001", "10001", "EROFS", "0000000000000000"]
