"""The Helm chart (charts/smartwatch): `helm lint --strict` passes; it renders with the default
values and with toggles; every rendered object passes a server-side dry run (strict field
validation, the restricted Pod Security profile as warnings) on a real kube-apiserver that has
the real Strimzi and spark-operator CRDs; the pinned versions, auth, non-root containers, the
CRDs and RBAC it shares with manifests/, and skaffold.yaml's wiring of the images."""

from __future__ import annotations

import re
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from smartwatch.settings import Settings
from smartwatch.toolchain import REPO_ROOT, helm_bin, kube_bin, versions
from tests.k8s.conftest import SCHEDULE_CRD, apply_crds

pytestmark = pytest.mark.k8s

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


@pytest.fixture(scope="module")
def chart_crds(kube_client, strimzi_crds, spark_operator_crds, schedule_crd) -> None:
    """Every CRD the rendered objects need: Strimzi's, spark-operator's and the chart's own."""
    apply_crds(kube_client, sorted(CHART.glob("crds/*.yaml")))


@pytest.fixture
def namespace(kube_client, chart_crds) -> Iterator[str]:
    """A fresh namespace that warns about anything the restricted Pod Security profile forbids."""
    from kubernetes import client

    core = client.CoreV1Api(kube_client)
    name = f"chart-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name, "labels": {
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": "latest"}}})
    yield name
    core.delete_namespace(name)


# --- helm -------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["defaults", "embedded-postgres", "external-kafka"])
def test_helm_lint_strict_passes(case: str) -> None:
    proc = _helm("lint", "--strict", str(CHART), *CASES[case])
    assert proc.returncode == 0, f"helm lint --strict:\n{proc.stdout}\n{_errors(proc)}"
    assert "[WARNING]" not in proc.stdout and "[ERROR]" not in proc.stdout, proc.stdout


@pytest.mark.parametrize("case", sorted(CASES))
def test_renders(case: str) -> None:
    docs = render(CASES[case])
    assert {d["kind"] for d in docs} >= {"Deployment", "Service"}


@pytest.mark.parametrize(("options", "message"), [
    (["--set", "kafka.enabled=false"], "kafka.bootstrap"),
    (["--set", "postgres.embedded.enabled=true", "--set", "postgres.existingSecret=pg"],
     "exclude each other"),
    (["--set", "kafka.version=4.2"], "kafka/version"),
    (["--set", "no.such.value=1"], "additional properties"),
])
def test_bad_values_are_refused_by_name(options: list[str], message: str) -> None:
    proc = _helm("template", RELEASE, str(CHART), *options)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


# --- every object against the real API server -----------------------------------------------

@pytest.mark.parametrize("case", [*sorted(CASES), "skaffold-kind-profile"])
def test_every_object_passes_a_server_dry_run(case: str, kubeconfig: Path, namespace: str) -> None:
    options = _kind_set_values() if case == "skaffold-kind-profile" else CASES[case]
    proc = _helm("template", RELEASE, str(CHART), "--namespace", namespace, *options)
    assert proc.returncode == 0, _errors(proc)
    out = _kubectl(kubeconfig, "apply", "--dry-run=server", "--validate=strict", "-n", namespace,
                   "-f", "-", stdin=proc.stdout)
    assert out.returncode == 0, f"kubectl apply --dry-run=server ({case}):\n{out.stderr}"
    assert "PodSecurity" not in out.stderr, f"restricted Pod Security profile ({case}):\n{out.stderr}"
    applied = len(re.findall(r"\(server dry run\)", out.stdout))
    assert applied == len([d for d in yaml.safe_load_all(proc.stdout) if d]), out.stdout


def test_install_and_upgrade_keep_the_generated_secrets(kubeconfig: Path, kube_client,
                                                        namespace: str) -> None:
    """A real `helm install` (CRDs from crds/ first) and `helm upgrade`: the generated admin
    token and Postgres password survive the upgrade (read back with lookup)."""
    from kubernetes import client

    core = client.CoreV1Api(kube_client)
    release = f"sw-{uuid.uuid4().hex[:6]}"
    common = ["--kubeconfig", str(kubeconfig), "--namespace", namespace]
    options = ["--set", "postgres.embedded.enabled=true", "--set", "operator.enabled=false"]

    def secrets() -> dict[str, dict[str, str]]:
        return {name: core.read_namespaced_secret(f"{release}-smartwatch-{name}", namespace).data
                for name in ("admin-token", "postgres")}

    proc = _helm("install", release, str(CHART), *common, *options)
    try:
        assert proc.returncode == 0, _errors(proc)
        first = secrets()
        proc = _helm("upgrade", release, str(CHART), *common, *options, "--set", "api.replicas=3")
        assert proc.returncode == 0, _errors(proc)
        assert secrets() == first
        apps = client.AppsV1Api(kube_client)
        assert apps.read_namespaced_deployment(f"{release}-smartwatch-api", namespace).spec.replicas == 3
    finally:
        _helm("uninstall", release, *common)


# --- what the objects say -----------------------------------------------------------------------

def test_landing_runs_the_pinned_spark_in_the_chart_image() -> None:
    v = versions()
    app = _one(render([]), "SparkApplication")
    spec = app["spec"]
    assert spec["sparkVersion"] == v["SPARK_VERSION"]
    image = VALUES["sparkImage"]
    assert spec["image"] == f"{image['repository']}:{image['tag'] or APP_VERSION}"
    assert spec["mainApplicationFile"] == "local:///opt/smartwatch/jobs/smartwatch_jobs/submit.py"
    assert spec["arguments"] == ["land"]
    assert spec["type"] == "Python" and spec["mode"] == "cluster"
    assert spec["restartPolicy"]["type"] in ("Always", "OnFailure")
    assert spec["driver"]["serviceAccount"] == "spark"
    for role in ("driver", "executor"):
        env = _env(spec[role])
        assert {"SMARTWATCH_KAFKA_BOOTSTRAP", "SMARTWATCH_LAKE_URI", "SMARTWATCH_QUARANTINE_URI",
                "SMARTWATCH_CHECKPOINT_URI"} <= set(env)
        assert env["SMARTWATCH_POSTGRES_DSN"]["valueFrom"]["secretKeyRef"]["key"] == "dsn"


def test_the_spark_image_is_built_from_the_pinned_spark_image() -> None:
    dockerfile = (REPO_ROOT / "build" / "images" / "smartwatch-spark.Dockerfile").read_text()
    assert f"ARG SPARK_IMAGE={versions()['SPARK_IMAGE']}\n" in dockerfile
    assert "\nFROM ${SPARK_IMAGE}\n" in dockerfile


def test_kafka_is_the_pinned_version_with_the_settings_topics() -> None:
    docs = render([])
    kafka = _one(docs, "Kafka")
    assert kafka["spec"]["kafka"]["version"] == versions()["KAFKA_VERSION"]
    pool = _one(docs, "KafkaNodePool")
    assert sorted(pool["spec"]["roles"]) == ["broker", "controller"]
    assert pool["spec"]["storage"]["type"] == "persistent-claim"
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    fields = Settings.model_fields
    topics = {t["spec"]["topicName"]: t for t in docs if t["kind"] == "KafkaTopic"}
    assert set(topics) == {fields["events_topic"].default, fields["dead_letter_topic"].default}
    for topic in topics.values():
        assert topic["spec"]["partitions"] == fields["topic_partitions"].default
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    api = _one(docs, "Deployment", f"{RELEASE}-api")["spec"]["template"]["spec"]["containers"][0]
    assert _env(api)["SMARTWATCH_KAFKA_BOOTSTRAP"]["value"] == (
        f"{kafka['metadata']['name']}-kafka-bootstrap.smartwatch.svc:9092")


def test_external_kafka_renders_no_strimzi_objects() -> None:
    docs = render(CASES["external-kafka"])
    assert not [d for d in docs if d["apiVersion"].startswith("kafka.strimzi.io/")]
    api = _one(docs, "Deployment", f"{RELEASE}-api")["spec"]["template"]["spec"]["containers"][0]
    assert _env(api)["SMARTWATCH_KAFKA_BOOTSTRAP"]["value"] == "kafka.example:9092"


def test_api_has_auth_on_probes_and_a_migration_step() -> None:
    assert Settings.model_fields["api_auth"].default is True
    auth_env = Settings.model_config["env_prefix"] + "API_AUTH"
    spec = _one(render([]), "Deployment", f"{RELEASE}-api")["spec"]["template"]["spec"]
    api = spec["containers"][0]
    env = _env(api)
    assert env[auth_env]["value"] == "true"
    assert api["command"] == ["smartwatch", "api"]
    assert env["SMARTWATCH_POSTGRES_DSN"]["valueFrom"]["secretKeyRef"] == {
        "name": f"{RELEASE}-postgres", "key": "dsn"}
    assert env["SMARTWATCH_ADMIN_TOKEN_FILE"]["value"].startswith("/var/run/secrets/")
    assert "SMARTWATCH_ADMIN_TOKEN" not in env  # the token is a mounted Secret, not a value
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert [c["command"] for c in spec["initContainers"]] == [["smartwatch", "db", "migrate"]]
    off = _one(render(["--set", "api.auth=false"]), "Deployment", f"{RELEASE}-api")
    assert _env(off["spec"]["template"]["spec"]["containers"][0])[auth_env]["value"] == "false"


@pytest.mark.parametrize("case", [*sorted(CASES), "skaffold-kind-profile"])
def test_every_container_runs_as_non_root(case: str) -> None:
    docs = render(_kind_set_values() if case == "skaffold-kind-profile" else CASES[case])
    checked = 0
    for where, spec in _pod_specs(docs).items():
        pod = spec.get("securityContext", {})
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            ctx = {**pod, **container.get("securityContext", {})}
            name = f"{where} container {container['name']}"
            assert ctx.get("runAsNonRoot") is True, name
            assert ctx.get("runAsUser", 0) != 0, name
            assert ctx.get("allowPrivilegeEscalation") is False, name
            assert ctx.get("capabilities", {}).get("drop") == ["ALL"], name
            assert ctx.get("readOnlyRootFilesystem") is True, name
            checked += 1
    for app in (d for d in docs if d["kind"] == "SparkApplication"):
        for role in ("driver", "executor"):
            ctx = {**app["spec"][role]["podSecurityContext"], **app["spec"][role]["securityContext"]}
            assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] != 0, f"{app['metadata']['name']} {role}"
            checked += 1
    assert checked


def test_api_and_operator_run_as_the_image_user() -> None:
    docs = render([])
    for name in (f"{RELEASE}-api", f"{RELEASE}-operator"):
        spec = _one(docs, "Deployment", name)["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsUser"] == 10001, name
    dockerfile = (REPO_ROOT / "build" / "images" / "smartwatch.Dockerfile").read_text()
    assert "\nUSER 10001:10001\n" in dockerfile and '\nENTRYPOINT ["smartwatch"]\n' in dockerfile


def test_selector_labels_never_carry_version_or_chart() -> None:
    allowed = {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"}
    docs = render(CASES["embedded-postgres"])
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet"):
            selector = doc["spec"]["selector"]["matchLabels"]
        elif doc["kind"] == "Service":
            selector = doc["spec"]["selector"]
        else:
            continue
        assert set(selector) <= allowed, f"{doc['kind']}/{doc['metadata']['name']}: {selector}"


def test_schedules_use_the_chart_lake_secret_and_spark_image() -> None:
    docs = render([])
    app = _one(docs, "SparkApplication")
    schedules = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "AggregationSchedule"}
    assert set(schedules) == {f"{RELEASE}-daily", f"{RELEASE}-weekly", f"{RELEASE}-monthly"}
    for name, spec in schedules.items():
        assert spec["granularity"] == name.rsplit("-", 1)[1]
        assert spec["lake"] == VALUES["lake"]["uri"]
        assert spec["postgres"] == {"secretName": f"{RELEASE}-postgres", "key": "dsn"}
        assert spec["spark"]["image"] == app["spec"]["image"]
        assert spec["spark"]["sparkVersion"] == versions()["SPARK_VERSION"]
        assert spec["spark"]["serviceAccount"] == "spark"
    existing = render(CASES["existing-secrets"])
    for doc in (d for d in existing if d["kind"] == "AggregationSchedule"):
        assert doc["spec"]["postgres"] == {"secretName": "pg", "key": "url"}


# --- what the chart shares with manifests/ ----------------------------------------------------

def test_chart_crd_is_the_manifests_crd() -> None:
    chart_crd = CHART / "crds" / SCHEDULE_CRD.name
    assert chart_crd.is_symlink() and chart_crd.resolve() == SCHEDULE_CRD.resolve()
    assert chart_crd.read_bytes() == SCHEDULE_CRD.read_bytes()


def test_packaged_chart_carries_the_crd_itself(tmp_path: Path) -> None:
    proc = _helm("package", str(CHART), "--destination", str(tmp_path))
    assert proc.returncode == 0, _errors(proc)
    (package,) = tmp_path.glob("smartwatch-*.tgz")
    with tarfile.open(package) as tar:
        member = tar.getmember(f"smartwatch/crds/{SCHEDULE_CRD.name}")
        assert member.isfile()
        assert tar.extractfile(member).read() == SCHEDULE_CRD.read_bytes()
    proc = _helm("template", RELEASE, str(package), "--include-crds")
    assert proc.returncode == 0, _errors(proc)
    crds = {d["metadata"]["name"] for d in yaml.safe_load_all(proc.stdout)
            if d and d["kind"] == "CustomResourceDefinition"}
    assert crds == {"aggregationschedules.smartwatch.dev", "clusterkopfpeerings.kopf.dev",
                    "kopfpeerings.kopf.dev"}


def test_kopf_peering_crds_are_those_of_the_manifests() -> None:
    def crds(path: Path) -> list[dict]:
        return [d for d in yaml.safe_load_all(path.read_text())
                if d and d["kind"] == "CustomResourceDefinition"]

    assert crds(CHART / "crds" / "kopf-peerings.kopf.dev.yaml") == crds(OPERATOR_MANIFESTS / "peering.yaml")


def test_operator_rbac_and_command_match_the_manifests() -> None:
    docs = render([])
    manifests = [d for d in yaml.safe_load_all((OPERATOR_MANIFESTS / "rbac.yaml").read_text()) if d]
    expected = _one(manifests, "ClusterRole")["rules"]
    role = _one(docs, "ClusterRole")
    assert role["rules"] == expected
    binding = _one(docs, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    deployment = _one(docs, "Deployment", f"{RELEASE}-operator")
    spec = deployment["spec"]["template"]["spec"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": spec["serviceAccountName"],
                                    "namespace": "smartwatch"}]
    command = spec["containers"][0]["command"]
    assert command[:2] == ["smartwatch", "operator"]
    assert {"--in-cluster", "--all-namespaces"} <= set(command)
    peering = _one(docs, "ClusterKopfPeering")
    assert command[command.index("--peering") + 1] == peering["metadata"]["name"]


def test_spark_driver_role_lets_it_manage_executor_pods() -> None:
    docs = render([])
    role, binding = _one(docs, "Role"), _one(docs, "RoleBinding")
    rules = {(r, v) for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]}
    assert {("pods", "create"), ("pods", "delete"), ("pods", "watch"), ("services", "create"),
            ("configmaps", "create"), ("persistentvolumeclaims", "create")} <= rules
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "spark", "namespace": "smartwatch"}]


# --- skaffold.yaml --------------------------------------------------------------------------------

def _template_key(image: str) -> str:
    return re.sub(r"[/.\-]", "_", image)


def test_skaffold_builds_both_images_and_wires_them_into_the_chart() -> None:
    assert SKAFFOLD["apiVersion"] == "skaffold/v4beta11"
    artifacts = {a["image"]: a for a in SKAFFOLD["build"]["artifacts"]}
    assert set(artifacts) == {"smartwatch", "smartwatch-spark"}
    for artifact in artifacts.values():
        assert (REPO_ROOT / artifact.get("context", ".") / artifact["docker"]["dockerfile"]).is_file()
    assert SKAFFOLD["build"]["tagPolicy"] == {"sha256": {}}
    (release,) = SKAFFOLD["deploy"]["helm"]["releases"]
    assert (REPO_ROOT / release["chartPath"]).resolve() == CHART.resolve()
    assert release["name"] == RELEASE
    wiring = {"image": "smartwatch", "sparkImage": "smartwatch-spark"}  # chart value -> artifact
    assert release["setValueTemplates"] == {
        key: value
        for section, image in wiring.items()
        for key, value in ((f"{section}.repository", f"{{{{.IMAGE_REPO_{_template_key(image)}}}}}"),
                           (f"{section}.tag", f"{{{{.IMAGE_TAG_{_template_key(image)}}}}}"))}
    for key in release["setValueTemplates"]:
        section, field = key.split(".")
        assert field in VALUES[section], key
    # The Spark image fields of the custom resources are rewritten too.
    kinds = {f["groupKind"] for f in SKAFFOLD["resourceSelector"]["allow"]}
    assert kinds == {"SparkApplication.sparkoperator.k8s.io", "AggregationSchedule.smartwatch.dev"}


def test_skaffold_profiles() -> None:
    profiles = {p["name"]: p for p in SKAFFOLD["profiles"]}
    (forward,) = profiles["dev"]["portForward"]
    (release,) = SKAFFOLD["deploy"]["helm"]["releases"]
    service = _one(render([]), "Service", forward["resourceName"])
    assert forward["namespace"] == release["namespace"]
    assert forward["port"] == service["spec"]["ports"][0]["port"]
    kind = profiles["kind"]
    assert {"op": "add", "path": "/build/local/push", "value": False} in kind["patches"]
    (kind_release,) = kind["deploy"]["helm"]["releases"]
    assert {k: v for k, v in kind_release.items() if k != "setValues"} == release
    assert kind["deploy"]["statusCheckDeadlineSeconds"] == SKAFFOLD["deploy"]["statusCheckDeadlineSeconds"]
