"""The chart installed on the kind tier's cluster: what its tests share (the release, its
objects as helm installed them, port-forwards and one-off pods)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import yaml

from smartwatch_dev.stack.release import Release
from tests.kind.conftest import Kube

TEST_POD = {"smartwatch.dev/test-pod": "true"}
RESTRICTED = {"runAsNonRoot": True, "readOnlyRootFilesystem": True,
              "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
              "seccompProfile": {"type": "RuntimeDefault"}}


@dataclass
class Installed:
    release: Release
    refs: dict[str, str]
    notes: str
    seconds: float
    kube: Kube

    def objects(self) -> list[dict[str, Any]]:
        manifest = self.release.helm("get", "manifest", self.release.name).stdout
        return [o for o in yaml.safe_load_all(manifest) if o]

    def find(self, kind: str, component: str) -> dict[str, Any]:
        """The release's one object of `kind` whose component label is `component`."""
        found = [o for o in self.objects() if o["kind"] == kind and
                 o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component]
        assert len(found) == 1, f"{len(found)} {kind} objects of component {component}"
        return found[0]

    def name(self, kind: str, component: str) -> str:
        return str(self.find(kind, component)["metadata"]["name"])

    def secret(self, name: str, key: str) -> str:
        import base64

        return base64.b64decode(self.kube.json("secret", name)["data"][key]).decode()

    def admin_token(self) -> str:
        """The admin token from the Secret the chart generated (`<fullname>-admin-token`)."""
        secret = next(o for o in self.objects() if o["kind"] == "Secret"
                      and o["metadata"]["name"].endswith("-admin-token"))
        return self.secret(secret["metadata"]["name"], "token")

    @property
    def labels(self) -> dict[str, str]:
        """Labels that make a pod one of the release's own (for its NetworkPolicies)."""
        return {"app.kubernetes.io/instance": self.release.name}


@contextmanager
def port_forward(kube: Kube, target: str, port: int) -> Iterator[str]:
    """`kubectl port-forward TARGET :PORT` while the block runs: the local base URL."""
    proc = subprocess.Popen([*kube.base, "--namespace", kube.namespace, "port-forward", target,
                             f":{port}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert found, f"port-forward {target}: {line!r} {proc.stderr.read() if proc.poll() else ''}"
        yield f"http://127.0.0.1:{found[1]}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def run_pod(kube: Kube, name: str, image: str, *, command: list[str],
            env: list[dict[str, Any]] | None = None, labels: dict[str, str] | None = None,
            volumes: list[dict[str, Any]] | None = None,
            mounts: list[dict[str, Any]] | None = None, user: int | None = None,
            wait: bool = True, timeout: float = 300) -> tuple[str, int, str]:
    """A restricted pod (read-only root, /tmp an emptyDir) run once: (phase, exit code, logs);
    with `wait` False, started only (phase "Pending", code -1, no logs). It carries the label
    TEST_POD, so that `delete_test_pods` finds it."""
    container: dict[str, Any] = {
        "name": "main", "image": image, "imagePullPolicy": "Never", "command": command,
        "env": env or [], "securityContext": RESTRICTED,
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, *(mounts or [])]}
    spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container],
                            "automountServiceAccountToken": False,
                            "volumes": [{"name": "tmp", "emptyDir": {}}, *(volumes or [])]}
    if user is not None:
        spec["securityContext"] = {"runAsUser": user, "runAsGroup": user, "fsGroup": user}
    kube.apply(json.dumps({"apiVersion": "v1", "kind": "Pod",
                           "metadata": {"name": name, "labels": {**(labels or {}), **TEST_POD}},
                           "spec": spec}))
    if not wait:
        return "Pending", -1, ""
    phase = kube.wait_pod_done(name, timeout=timeout)
    state = kube.json("pod", name)["status"]["containerStatuses"][0]["state"]["terminated"]
    return phase, int(state["exitCode"]), kube("logs", name).stdout.strip()


def delete_test_pods(kube: Kube) -> None:
    """The pods `run_pod` started (some carry the release's labels)."""
    kube("delete", "pod", "-l", ",".join(f"{k}={v}" for k, v in TEST_POD.items()), "--wait",
         timeout=180)


def wait_gone(kube: Kube, kind: str, selector: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not kube.json(kind, "-l", selector)["items"]:
            return
        time.sleep(2)
    raise AssertionError(f"{kind} with {selector} still there after {timeout:.0f}s")
