"""The project's `smartwatch` image, built here on the cluster's Debian base, in pods of the
real cluster: it runs as its own user on a read-only root filesystem with no capabilities,
and a pod missing a required setting stops with one line naming it."""

from __future__ import annotations

import json

import pytest

from smartwatch_dev.stack import images
from smartwatch_dev.stack.cluster import Cluster
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


#: Lists every Python file of the project's packages the image's Python can import, and those
#: under /opt/smartwatch (the Spark image's copy of the jobs), relative to their root.
LIST_PACKAGES = """
import json, pathlib, sys
roots = [pathlib.Path(p) for p in sys.path if p and pathlib.Path(p).is_dir()]
roots.append(pathlib.Path('/opt/smartwatch/jobs'))
found = set()
for root in roots:
    for top in root.glob('smartwatch*'):
        found.update(str(f.relative_to(root)) for f in top.rglob('*.py'))
print(json.dumps(sorted(found)))
"""
DEV_MODULES = ("smartwatch_dev/", "smartwatch/stack/", "smartwatch/demo/", "smartwatch/simulate/",
               "smartwatch/toolchain.py", "smartwatch_jobs/aot.py")


@pytest.mark.parametrize("name", ["smartwatch", "smartwatch-spark"])
def test_the_images_hold_the_runtime_and_no_dev_tooling(kind_cluster: Cluster, name: str) -> None:
    """Read in the built image itself: its Python files are the runtime packages', none of the
    dev tooling's (the local stack, the set-up cache, the simulator, the demo, the JVM
    cache's training)."""
    ref = images.build(kind_cluster, name, report=print)
    done = kind_cluster.docker("run", "--rm", "--entrypoint", "python", ref, "-c", LIST_PACKAGES)
    files = json.loads(done.stdout)
    assert {"smartwatch/api/main.py", "smartwatch/cli/__init__.py",
            "smartwatch_jobs/commands.py", "smartwatch_operator/reconcile.py"} <= set(files)
    assert [f for f in files if f.startswith(DEV_MODULES)] == []


def test_a_dev_command_in_the_image_says_what_it_needs(kube: Kube, smartwatch_image: str) -> None:
    phase, code, logs = run_pod(kube, "dev-command", smartwatch_image, args=["stack", "status"])
    assert (phase, code) == ("Failed", 2)
    assert logs == ("smartwatch stack: needs the dev tooling (smartwatch_dev), which only a "
                    "checkout holds (make setup); this installation has the runtime alone")
