"""The local SparkApplication runner: spark-operator's part on one machine (dev tooling).

The local stack's kube-apiserver has no kubelet, so nothing would run the SparkApplications
the operator creates. This small controller does: it watches every SparkApplication, runs its
driver as a local process (`python MAIN_FILE ARGUMENTS...`, the main file mapped from the
image's folder to the checkout) with local Spark, and writes the status spark-operator writes
(`status.applicationState.state` SUBMITTED, RUNNING, then COMPLETED or FAILED with an
`errorMessage`; `lastSubmissionAttemptTime`, `terminationTime`, `submissionAttempts`,
`executionAttempts`, `sparkApplicationId`, `driverInfo`). So the resources the chart installs
work the same without a cluster (docs/operator.md, "Without a cluster").

What it takes from a SparkApplication: the main file and arguments, the driver container's
environment from the driver's pod template (`value` and `valueFrom.secretKeyRef`, read from
the Secret), and the driver's memory. Executors, images, pod settings and sparkConf other
than what the job sets itself do not apply: the job runs with local Spark (`local[*]`). The
restart policy is read as Never: a failed run stays failed, as the operator's runs are.
Runs start in creation order, `concurrency` at a time (default 1: a laptop's cores). A run
this runner did not start and finds SUBMITTED or RUNNING (it was stopped meanwhile) is
marked FAILED, as spark-operator marks a run whose driver is gone.

Each run's driver log is `<state>/spark-runner/<namespace>.<name>.log`; its termination
message (the driver's error line) is read from a file beside it, which the driver finds in
SMARTWATCH_TERMINATION_LOG.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from smartwatch import k8s
from smartwatch_dev.toolchain import REPO_ROOT

GROUP, VERSION, PLURAL = k8s.SPARK_APPLICATIONS.coordinates
#: The project's folder in its images: a main file under it runs from the checkout.
IMAGE_ROOT = "/opt/smartwatch"
DRIVER_CONTAINER = "spark-kubernetes-driver"
ACTIVE_STATES = ("SUBMITTED", "RUNNING")


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class NotRunnable(Exception):
    """The SparkApplication cannot be run here; the message says why (SUBMISSION_FAILED)."""


def main_file(app: dict[str, Any], repo_root: Path = REPO_ROOT) -> Path:
    """The local path of the application's main file: `local:///opt/smartwatch/X` is the
    checkout's X, another `local://` or plain path is taken as it is."""
    spec = app.get("spec") or {}
    if spec.get("type", "Python") != "Python":
        raise NotRunnable(f"spec.type {spec.get('type')!r}: only Python applications run locally")
    uri = str(spec.get("mainApplicationFile") or "")
    if not uri:
        raise NotRunnable("spec.mainApplicationFile is missing")
    path = uri.removeprefix("local://")
    if "://" in path:
        raise NotRunnable(f"spec.mainApplicationFile {uri!r} is not a local file")
    if path == IMAGE_ROOT or path.startswith(IMAGE_ROOT + "/"):
        local = repo_root / path[len(IMAGE_ROOT):].lstrip("/")
    else:
        local = Path(path)
    if not local.is_file():
        raise NotRunnable(f"spec.mainApplicationFile {uri!r}: no file {local}")
    return local


def driver_env(app: dict[str, Any], secret: Any) -> dict[str, str]:
    """The driver container's environment: its pod template's env and spec.driver.env, each
    `value` or `valueFrom.secretKeyRef` (`secret(namespace, name)` returns the Secret's
    data, base64 as stored, or None when it does not exist)."""
    spec = app.get("spec") or {}
    driver = spec.get("driver") or {}
    containers = (((driver.get("template") or {}).get("spec") or {}).get("containers") or [])
    entries = [e for c in containers if c.get("name") == DRIVER_CONTAINER
               for e in c.get("env") or []] + list(driver.get("env") or [])
    namespace = app["metadata"].get("namespace", "default")
    env: dict[str, str] = {}
    for entry in entries:
        name = entry["name"]
        if "value" in entry:
            env[name] = str(entry["value"])
            continue
        ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
        if ref is None:
            raise NotRunnable(f"env {name}: only value and valueFrom.secretKeyRef are supported")
        data = secret(namespace, ref["name"])
        if data is None or ref["key"] not in data:
            if ref.get("optional"):
                continue
            what = (f"secret {namespace}/{ref['name']} not found" if data is None
                    else f"secret {namespace}/{ref['name']} has no key {ref['key']!r}")
            raise NotRunnable(f"env {name}: {what}")
        env[name] = base64.b64decode(data[ref["key"]]).decode()
    if driver.get("memory"):
        env["SMARTWATCH_SPARK_DRIVER_MEMORY"] = str(driver["memory"])
    return env


def _key(app: dict[str, Any]) -> tuple[str, str]:
    return app["metadata"].get("namespace", "default"), app["metadata"]["name"]


@dataclasses.dataclass
class Driver:
    app: dict[str, Any]
    proc: subprocess.Popen[bytes]
    log: Path
    termination: Path


class Runner:
    """Runs the SparkApplications of one kube-apiserver (all namespaces)."""

    def __init__(self, api_client: Any, state: Path, *, concurrency: int = 1,
                 poll: float = 0.5, python: str = sys.executable,
                 repo_root: Path = REPO_ROOT) -> None:
        from kubernetes import client

        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.dir = state / "spark-runner"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.concurrency = max(1, concurrency)
        self.poll = poll
        self.python = python
        self.repo_root = repo_root
        self.running: dict[tuple[str, str], Driver] = {}
        self.started: set[str] = set()  # uids this runner submitted
        self.stopping = threading.Event()

    # -- the API server --------------------------------------------------------------------
    def _list(self) -> list[dict[str, Any]]:
        found: Any = self.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
        items: list[dict[str, Any]] = found["items"]
        return sorted(items, key=lambda a: (a["metadata"].get("creationTimestamp", ""),
                                            a["metadata"]["name"]))

    def _secret(self, namespace: str, name: str) -> dict[str, str] | None:
        from kubernetes import client

        try:
            data: Any = self.core.read_namespaced_secret(name, namespace).data
            return dict(data or {})
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _status(self, app: dict[str, Any], status: dict[str, Any]) -> None:
        from kubernetes import client

        namespace, name = _key(app)
        try:
            self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, PLURAL, name, {"status": status})
        except client.ApiException as exc:
            if exc.status != 404:  # not deleted meanwhile
                raise

    # -- runs ------------------------------------------------------------------------------
    def step(self) -> None:
        """One pass: finish drivers that exited, fail runs left active by an earlier runner,
        start waiting runs while there is room."""
        for key, driver in list(self.running.items()):
            if driver.proc.poll() is not None:
                self._finish(key, driver)
        for app in self._list():
            key = _key(app)
            state = ((app.get("status") or {}).get("applicationState") or {}).get("state") or ""
            if key in self.running or app["metadata"].get("deletionTimestamp"):
                continue
            if state in ACTIVE_STATES and app["metadata"]["uid"] not in self.started:
                self._status(app, {"applicationState": {
                    "state": "FAILED",
                    "errorMessage": "the local runner was stopped while the run was active"},
                    "terminationTime": now()})
            elif not state and len(self.running) < self.concurrency:
                self._start(app)

    def _start(self, app: dict[str, Any]) -> None:
        namespace, name = _key(app)
        attempt = now()
        self.started.add(app["metadata"]["uid"])
        try:
            path = main_file(app, self.repo_root)
            env = driver_env(app, self._secret)
        except NotRunnable as exc:
            self._status(app, {"applicationState": {"state": "SUBMISSION_FAILED",
                                                    "errorMessage": str(exc)},
                               "driverInfo": {},  # the CRD requires it in every status
                               "lastSubmissionAttemptTime": attempt, "submissionAttempts": 1,
                               "terminationTime": now()})
            return
        stem = f"{namespace}.{name}"
        log, termination = self.dir / f"{stem}.log", self.dir / f"{stem}.termination"
        termination.write_text("")  # as Kubernetes creates the termination-message file
        arguments = [str(a) for a in (app["spec"].get("arguments") or [])]
        full_env = {**os.environ, **env, "SMARTWATCH_TERMINATION_LOG": str(termination)}
        with open(log, "wb") as out:
            proc = subprocess.Popen([self.python, str(path), *arguments], stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=full_env, cwd=self.repo_root)
        self.running[(namespace, name)] = Driver(app, proc, log, termination)
        app_id = f"local-{name}-{proc.pid}"
        self._status(app, {"applicationState": {"state": "SUBMITTED"},
                           "lastSubmissionAttemptTime": attempt, "submissionAttempts": 1,
                           "sparkApplicationId": app_id, "submissionID": app_id,
                           "driverInfo": {"podName": f"{name}-driver (local pid {proc.pid})"}})
        self._status(app, {"applicationState": {"state": "RUNNING"}, "executionAttempts": 1})

    def _finish(self, key: tuple[str, str], driver: Driver) -> None:
        del self.running[key]
        code = driver.proc.returncode
        if code == 0:
            self._status(driver.app, {"applicationState": {"state": "COMPLETED"},
                                      "terminationTime": now()})
            return
        message = driver.termination.read_text(errors="replace").strip() if \
            driver.termination.exists() else ""
        reason = (f"driver exited with code {code}" if code > 0
                  else f"driver killed by signal {-code}")
        self._status(driver.app, {"applicationState": {
            "state": "FAILED", "errorMessage": f"{reason}: {message}" if message else reason},
            "terminationTime": now()})

    def stop_drivers(self) -> None:
        """Stop every running driver (SIGTERM, then SIGKILL) and mark its run FAILED."""
        for driver in self.running.values():
            with contextlib.suppress(ProcessLookupError):
                driver.proc.terminate()
        deadline = time.monotonic() + 10
        for driver in self.running.values():
            try:
                driver.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                driver.proc.kill()
                driver.proc.wait()
        for key, driver in list(self.running.items()):
            with contextlib.suppress(Exception):
                self._finish(key, driver)

    def run(self) -> None:
        """Until SIGTERM or SIGINT: a pass every `poll` seconds. Errors of the API server
        (restarting, say) are retried; the drivers are stopped on the way out."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        try:
            while not self.stopping.is_set():
                try:
                    self.step()
                except Exception as exc:  # the API server is unreachable: try again
                    print(f"spark-runner: {type(exc).__name__}: {exc}", file=sys.stderr,
                          flush=True)
                self.stopping.wait(self.poll)
        finally:
            self.stop_drivers()
