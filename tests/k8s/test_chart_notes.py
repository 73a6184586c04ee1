"""NOTES.txt: every line indented by two spaces is one command that works as printed. Here the
commands must name the release's real Services, ports, Secrets and keys and the API's real
routes, and, after a real `helm install` on the test API server, those that need no running
pod (reading the admin token, the DSN, the object store keys) are run and print the Secrets'
values. The port-forwards and curls run on kind (tests/kind)."""

from __future__ import annotations

import base64
import os
import re
import shlex
import subprocess
import uuid
from pathlib import Path

import pytest

from smartwatch.api.routes import admin, health
from smartwatch_dev.toolchain import kube_bin
from tests.k8s.chart import (  # noqa: F401 (the *_fixture functions are fixtures)
    CASES,
    CHART,
    RELEASE,
    chart_crds_fixture,
    commands,
    helm_errors,
    namespace_fixture,
    notes,
    render,
    run_helm,
)

pytestmark = pytest.mark.k8s

PORT_FORWARD = re.compile(r"^kubectl --namespace (\S+) port-forward svc/(\S+) (\d+):(\d+)$")
GET_SECRET = re.compile(
    r"kubectl --namespace (\S+) get secret (\S+) -o jsonpath='\{\.data\.(\S+?)\}' \| base64 -d")
CURL = re.compile(
    r"^curl -fsS (?:-X (\w+) )?(?:-H \"Authorization: Bearer \$\((.+)\)\" )?http://127\.0\.0\.1:8000(\S+)$")


def _routes(router) -> set[tuple[str, str]]:
    return {(method, route.path) for route in router.routes for method in route.methods}


@pytest.mark.parametrize("case", ["defaults", "ci-kind", "embedded-everything", "external-kafka", "api-only"])
def test_notes_commands_name_real_objects(case: str, kubeconfig: Path, namespace: str) -> None:
    text = notes(kubeconfig, namespace, CASES[case])
    docs = render(CASES[case], namespace=namespace)
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    lines = commands(text)
    assert lines, text
    routes = _routes(admin.router) | _routes(health.router)
    forwarded = set()
    for line in lines:
        assert line == line.strip() and not line.endswith("\\"), line
        assert "{{" not in line and "<" not in line and "CHANGE" not in line, line
        assert line.split()[0] in ("kubectl", "curl", "echo"), line
        if line.startswith("kubectl"):
            assert line.startswith(f"kubectl --namespace {namespace} "), line
        if match := PORT_FORWARD.match(line):
            _, service, local, remote = match.groups()
            assert int(remote) in {p["port"] for p in services[service]["spec"]["ports"]}, line
            forwarded.add(int(local))
        for match in GET_SECRET.finditer(line):
            _, secret, key = match.groups()
            assert key.replace("\\.", ".") in secrets[secret]["data"], line
        if match := CURL.match(line):
            method, _, path = match.groups()
            templated = re.sub(r"/devices/[^/]+/", "/devices/{device_id}/", path)
            assert (method or "GET", templated) in routes, line
    assert f"kubectl --namespace {namespace} port-forward svc/{RELEASE}-api 8000:8000" in lines
    admin_line = next(line for line in lines if "/v1/admin/devices/" in line)
    match = CURL.match(admin_line)
    assert match and match.group(2), admin_line  # the admin token, read from its Secret
    if any(d["kind"] == "StatefulSet" and d["metadata"]["name"] == f"{RELEASE}-postgres" for d in docs):
        assert 15432 in forwarded


def test_notes_commands_work_after_an_install(kubeconfig: Path, kube_client, namespace: str) -> None:
    """The commands that need no running pod, run exactly as printed."""
    from kubernetes import client

    core = client.CoreV1Api(kube_client)
    release = f"sw-{uuid.uuid4().hex[:6]}"
    common = ["--kubeconfig", str(kubeconfig), "--namespace", namespace, "--no-hooks"]
    options = ["--set", "postgres.embedded.enabled=true", "--set", "objectStore.embedded.enabled=true",
               "--set", "operator.enabled=false"]
    env = {**os.environ, "KUBECONFIG": str(kubeconfig),
           "PATH": f"{kube_bin('kubectl').parent}{os.pathsep}{os.environ['PATH']}"}

    def run(command: str) -> str:
        proc = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{command}\n{proc.stderr}"
        return proc.stdout

    def secret(suffix: str, key: str) -> str:
        data = core.read_namespaced_secret(f"{release}-smartwatch-{suffix}", namespace).data
        return base64.b64decode(data[key]).decode()

    proc = run_helm("install", release, str(CHART), *common, *options)
    try:
        assert proc.returncode == 0, helm_errors(proc)
        proc = run_helm("get", "notes", release, "--kubeconfig", str(kubeconfig), "--namespace", namespace)
        assert proc.returncode == 0, helm_errors(proc)
        lines = commands(proc.stdout)
        outputs = {}
        for line in lines:
            words = shlex.split(line)
            if words[0] == "curl":
                match = CURL.match(line)
                if match and match.group(2):  # the admin token inside the device-token call
                    assert run(match.group(2)) == secret("admin-token", "token")
                continue
            if {"port-forward", "wait", "rollout", "logs"} & set(words):  # need a running pod
                continue
            outputs[line] = run(line)
        values = set(outputs.values())
        assert secret("admin-token", "token") in values
        assert secret("postgres", "dsn") in values
        assert {secret("objectstore", "accessKey"), secret("objectstore", "secretKey")} <= values
        password = secret("postgres", "password")
        assert f"postgresql://smartwatch:{password}@127.0.0.1:15432/smartwatch\n" in values
        # The audit's one-off Job, made from its CronJob by the printed command.
        job = client.BatchV1Api(kube_client).read_namespaced_job(
            f"{release}-smartwatch-audit-now", namespace)
        args = job.spec.template.spec.containers[0].args
        assert args[-3:] == ["audit", "--last-days", "35"], args
    finally:
        run_helm("uninstall", release, *common)
