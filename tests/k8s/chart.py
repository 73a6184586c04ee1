"""The chart tests' helpers: the chart, its value toggles, rendering with helm, and reading
what it rendered."""


from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from smartwatch_dev.toolchain import REPO_ROOT, helm_bin, kube_bin
from tests.k8s.conftest import apply_crds

CHART = REPO_ROOT / "charts" / "smartwatch"
RELEASE = "smartwatch"  # the release name skaffold.yaml installs
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
APP_VERSION = str(yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"])
SKAFFOLD = yaml.safe_load((REPO_ROOT / "skaffold.yaml").read_text())
OPERATOR_MANIFESTS = REPO_ROOT / "manifests" / "operator"
KIND_VALUES = CHART / "ci" / "kind.yaml"
# Kinds of CRDs the test API server does not have (the Prometheus operator's): rendered and
# asserted on, never dry-run.
UNVALIDATED_KINDS = {"ServiceMonitor", "PodMonitor"}
# What the kind installer passes besides ci/kind.yaml: every image, loaded into the node.
KIND_IMAGE_SETS = [arg for key, value in {
    "image.repository": "smartwatch", "image.tag": "dev",
    "sparkImage.repository": "smartwatch-spark", "sparkImage.tag": "dev",
    "kafka.embedded.image.repository": "smartwatch-kafka", "kafka.embedded.image.tag": "dev",
    "postgres.embedded.image.repository": "smartwatch-postgres", "postgres.embedded.image.tag": "dev",
    "objectStore.embedded.image.repository": "smartwatch-objectstore",
    "objectStore.embedded.image.tag": "dev"}.items() for arg in ("--set", f"{key}={value}")]

# Value toggles rendered and dry-run besides the defaults.
CASES = {
    "defaults": [],
    "external-kafka": ["--set", "kafka.mode=external",
                       "--set", "kafka.external.bootstrap=kafka.example:9092"],
    "external-kafka-ssl": ["--set", "kafka.mode=external", "--set", "kafka.external.bootstrap=k.example:9093",
                           "--set", "kafka.external.securityProtocol=SSL",
                           "--set", "kafka.external.existingSecret=kafka-ca"],
    "external-kafka-sasl-ssl": ["--set", "kafka.mode=external",
                                "--set", "kafka.external.bootstrap=b1.example:9093\\,b2.example:9093",
                                "--set", "kafka.external.securityProtocol=SASL_SSL",
                                "--set", "kafka.external.sasl.mechanism=SCRAM-SHA-256",
                                "--set", "kafka.external.existingSecret=kafka-login",
                                "--set", "kafkaUI.enabled=true",
                                "--set", "lake.s3.existingSecret=lake-keys",
                                "--set", "lake.s3.endpoint=https://s3.example",
                                "--set", "lake.s3.pathStyleAccess=true"],
    "embedded-kafka": ["--set", "kafka.mode=embedded",
                       "--set", "kafka.embedded.config.log\\.retention\\.hours=24",
                       "--set", "kafkaUI.enabled=true"],
    "embedded-everything": ["--set", "kafka.mode=embedded", "--set", "postgres.embedded.enabled=true",
                            "--set", "objectStore.embedded.enabled=true",
                            "--set", "networkPolicy.enabled=true",
                            "--set", "api.autoscaling.enabled=true", "--set", "api.ingress.enabled=true",
                            "--set", "api.ingress.className=nginx",
                            "--set", "api.ingress.tls[0].secretName=smartwatch-tls",
                            "--set", "api.ingress.tls[0].hosts[0]=smartwatch.example.com",
                            "--set", "metrics.serviceMonitor.enabled=true",
                            "--set", "metrics.podMonitor.enabled=true", "--set", "kafkaUI.enabled=true",
                            "--set", "lake.uri=s3a://lake-a/events", "--set", "lake.checkpointUri=s3a://lake-b/cp"],
    "file-lake": ["--set", "lake.uri=file:///lake/events", "--set", "lake.volume.claimName=lake-rwx"],
    "ci-kind": ["-f", str(KIND_VALUES), *KIND_IMAGE_SETS],
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


def sets(*assignments: str) -> list[str]:
    """helm options setting each `key=value`."""
    return [arg for assignment in assignments for arg in ("--set", assignment)]


def parse_docs(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def run_helm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(helm_bin()), *args], capture_output=True, text=True, timeout=120)


def helm_errors(proc: subprocess.CompletedProcess) -> str:
    # helm logs every symlink it follows (crds/ links to manifests/crds/); only the rest counts.
    return "\n".join(line for line in proc.stderr.splitlines() if "symbolic link" not in line)


def render(options: list[str], namespace: str = "smartwatch") -> list[dict]:
    proc = run_helm("template", RELEASE, str(CHART), "--namespace", namespace, *options)
    assert proc.returncode == 0, f"helm template {options} failed:\n{helm_errors(proc)}"
    return parse_docs(proc.stdout)


def notes(kubeconfig: Path, namespace: str, options: list[str], release: str = RELEASE) -> str:
    """NOTES.txt as `helm install` prints it (a client-side dry run on the test API server,
    which has no CRDs of the Prometheus operator: its monitors are off, NOTES do not name them)."""
    proc = run_helm("install", release, str(CHART), "--dry-run=client", "--kubeconfig", str(kubeconfig),
                 "--namespace", namespace, *options,
                 *sets("metrics.serviceMonitor.enabled=false", "metrics.podMonitor.enabled=false"))
    assert proc.returncode == 0, f"helm install --dry-run {options} failed:\n{helm_errors(proc)}"
    return proc.stdout.split("\nNOTES:\n", 1)[1]


def commands(text: str) -> list[str]:
    """The commands of NOTES.txt: the lines indented by two spaces."""
    return [line[2:] for line in text.splitlines() if line.startswith("  ")]


def run_kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(kube_bin("kubectl")), "--kubeconfig", str(kubeconfig), *args],
                          input=stdin, capture_output=True, text=True, timeout=120)


def one_object(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {[d['metadata']['name'] for d in found]}"
    return found[0]


def pod_specs(docs: list[dict]) -> dict[str, dict]:
    return {f"{d['kind']}/{d['metadata']['name']}": d["spec"]["template"]["spec"]
            for d in docs if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")}


def container_env(container: dict) -> dict[str, dict]:
    """A container's env by name; for a SparkApplication's driver or executor, that of the
    container of its pod template."""
    if "template" in container:
        container = container["template"]["spec"]["containers"][0]
    return {e["name"]: e for e in container.get("env", [])}


# --- fixtures of the chart tests that use the API server: a test module imports the
# *_fixture functions, pytest knows them by their names (chart_crds, namespace).


@pytest.fixture(scope="module", name="chart_crds")
def chart_crds_fixture(kube_client, strimzi_crds, spark_operator_crds, schedule_crd) -> None:
    """Every CRD the rendered objects need: Strimzi's, spark-operator's and the chart's own."""
    apply_crds(kube_client, sorted(CHART.glob("crds/*.yaml")))


@pytest.fixture(name="namespace")
def namespace_fixture(kube_client, chart_crds) -> Iterator[str]:
    """A fresh namespace that warns about anything the restricted Pod Security profile forbids."""
    from kubernetes import client

    core = client.CoreV1Api(kube_client)
    name = f"chart-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name, "labels": {
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": "latest"}}})
    yield name
    core.delete_namespace(name)
