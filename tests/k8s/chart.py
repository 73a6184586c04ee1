"""The chart tests' helpers: the chart, its value toggles, rendering with helm, and reading
what it rendered."""


from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from smartwatch.toolchain import REPO_ROOT, helm_bin, kube_bin

CHART = REPO_ROOT / "charts" / "smartwatch"
RELEASE = "smartwatch"  # the release name skaffold.yaml installs
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
APP_VERSION = str(yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"])
SKAFFOLD = yaml.safe_load((REPO_ROOT / "skaffold.yaml").read_text())
OPERATOR_MANIFESTS = REPO_ROOT / "manifests" / "operator"

# Value toggles rendered and dry-run besides the defaults.
CASES = {
    "defaults": [],
    "external-kafka": ["--set", "kafka.enabled=false", "--set", "kafka.bootstrap=kafka.example:9092"],
    "embedded-postgres": ["--set", "postgres.embedded.enabled=true", "--set", "kafka.replicas=3",
                          "--set", "landing.restartPolicy.type=OnFailure"],
    "existing-secrets": ["--set", "postgres.existingSecret=pg", "--set", "postgres.existingSecretKey=url",
                         "--set", "api.adminToken.existingSecret=admin", "--set", "api.auth=false",
                         "--set", "api.env.SMARTWATCH_MAX_BATCH_EVENTS=500",
                         "--set", "landing.env.SMARTWATCH_LANDING_TRIGGER_SECONDS=10",
                         "--set", "spark.sparkConf.spark\\.hadoop\\.fs\\.s3a\\.path\\.style\\.access=true",
                         "--set", "imagePullSecrets[0].name=regcred"],
    "api-only": ["--set", "landing.enabled=false", "--set", "operator.enabled=false",
                 "--set", "spark.serviceAccount.create=false", "--set-json", "schedules=[]"],
}


def _helm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(helm_bin()), *args], capture_output=True, text=True, timeout=120)


def _errors(proc: subprocess.CompletedProcess) -> str:
    # helm logs every symlink it follows (crds/ links to manifests/crds/); only the rest counts.
    return "\n".join(line for line in proc.stderr.splitlines() if "symbolic link" not in line)


def render(options: list[str], namespace: str = "smartwatch") -> list[dict]:
    proc = _helm("template", RELEASE, str(CHART), "--namespace", namespace, *options)
    assert proc.returncode == 0, f"helm template {options} failed:\n{_errors(proc)}"
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def _kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(kube_bin("kubectl")), "--kubeconfig", str(kubeconfig), *args],
                          input=stdin, capture_output=True, text=True, timeout=120)


def _one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {[d['metadata']['name'] for d in found]}"
    return found[0]


def _pod_specs(docs: list[dict]) -> dict[str, dict]:
    return {f"{d['kind']}/{d['metadata']['name']}": d["spec"]["template"]["spec"]
            for d in docs if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")}


def _env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def _kind_set_values() -> list[str]:
    kind = next(p for p in SKAFFOLD["profiles"] if p["name"] == "kind")
    release = kind["deploy"]["helm"]["releases"][0]
    return [arg for key, value in release["setValues"].items() for arg in ("--set", f"{key}={value}")]
