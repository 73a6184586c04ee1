"""The Helm chart (charts/smartwatch): `helm lint --strict` passes; it renders with the default
values and with toggles; every rendered object passes a server-side dry run (strict field
validation, the restricted Pod Security profile as warnings) on a real kube-apiserver that has
the real Strimzi and spark-operator CRDs; the pinned versions, auth, non-root containers, the
CRDs and RBAC it shares with manifests/, and skaffold.yaml's wiring of the images."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import yaml

from smartwatch.settings import Settings
from smartwatch_dev.toolchain import REPO_ROOT, versions
from tests.k8s.chart import (  # noqa: F401 (the *_fixture functions are fixtures)
    APP_VERSION,
    CASES,
    CHART,
    RELEASE,
    UNVALIDATED_KINDS,
    VALUES,
    chart_crds_fixture,
    container_env,
    helm_errors,
    namespace_fixture,
    one_object,
    parse_docs,
    pod_specs,
    render,
    run_helm,
    run_kubectl,
)

# Render tests need helm alone (tier helm); the dry run and the install a kube-apiserver (k8s).


# --- helm -------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["defaults", "embedded-postgres", "external-kafka", "embedded-kafka",
                                  "embedded-everything", "ci-kind"])
@pytest.mark.helm
def test_helm_lint_strict_passes(case: str) -> None:
    proc = run_helm("lint", "--strict", str(CHART), *CASES[case])
    assert proc.returncode == 0, f"helm lint --strict:\n{proc.stdout}\n{helm_errors(proc)}"
    assert "[WARNING]" not in proc.stdout and "[ERROR]" not in proc.stdout, proc.stdout


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.helm
def test_renders(case: str) -> None:
    docs = render(CASES[case])
    assert {d["kind"] for d in docs} >= {"Deployment", "Service"}


@pytest.mark.parametrize(("options", "message"), [
    (["--set", "kafka.mode=external"], "kafka.external.bootstrap"),
    (["--set", "kafka.mode=external", "--set", "api.enabled=false", "--set", "landing.enabled=false"],
     "kafka.external.bootstrap"),
    (["--set", "kafka.mode=kraft"], "kafka/mode"),
    (["--set", "kafka.enabled=false"], "additional properties 'enabled'"),
    (["--set", "kafka.mode=external", "--set", "kafka.external.bootstrap=k:9092",
      "--set", "kafka.external.securityProtocol=SASL_SSL"], "kafka.external.existingSecret"),
    (["--set", "kafka.mode=external", "--set", "kafka.external.bootstrap=k:9092",
      "--set", "kafka.external.securityProtocol=TLS"], "kafka/external/securityProtocol"),
    (["--set", "kafka.external.sasl.mechanism=GSSAPI"], "kafka/external/sasl/mechanism"),
    (["--set", "objectStore.embedded.enabled=true", "--set", "lake.uri=file:///lake/events"],
     "objectStore.embedded.enabled"),
    (["--set", "api.preStopSeconds=30", "--set", "api.terminationGracePeriodSeconds=30"],
     "api.terminationGracePeriodSeconds"),
    (["--set", "api.autoscaling.enabled=true", "--set", "api.autoscaling.minReplicas=5",
      "--set", "api.autoscaling.maxReplicas=2"], "api.autoscaling.minReplicas"),
    (["--set", "lake.quarantineUri=s3://bucket/q"], "lake/quarantineUri"),
    (["--set", "postgres.embedded.enabled=true", "--set", "postgres.existingSecret=pg"],
     "exclude each other"),
    (["--set", "kafka.version=4.2"], "kafka/version"),
    (["--set-string", "objectStore.embedded.minFreeSpace=1 GB"], "objectStore/embedded/minFreeSpace"),
    (["--set", "no.such.value=1"], "additional properties"),
])
@pytest.mark.helm
def test_bad_values_are_refused_by_name(options: list[str], message: str) -> None:
    proc = run_helm("template", RELEASE, str(CHART), *options)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


# --- every object against the real API server -----------------------------------------------

@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.k8s
def test_every_object_passes_a_server_dry_run(case: str, kubeconfig: Path, namespace: str) -> None:
    options = CASES[case]
    proc = run_helm("template", RELEASE, str(CHART), "--namespace", namespace, *options)
    assert proc.returncode == 0, helm_errors(proc)
    # The Prometheus operator's kinds have no CRD here: test_chart_features asserts on them.
    docs = [d for d in parse_docs(proc.stdout) if d["kind"] not in UNVALIDATED_KINDS]
    out = run_kubectl(kubeconfig, "apply", "--dry-run=server", "--validate=strict", "-n", namespace,
                   "-f", "-", stdin=yaml.safe_dump_all(docs))
    assert out.returncode == 0, f"kubectl apply --dry-run=server ({case}):\n{out.stderr}"
    assert "PodSecurity" not in out.stderr, f"restricted Pod Security profile ({case}):\n{out.stderr}"
    applied = len(re.findall(r"\(server dry run\)", out.stdout))
    assert applied == len(docs), out.stdout


@pytest.mark.k8s
def test_install_and_upgrade_keep_the_generated_secrets(kubeconfig: Path, kube_client,
                                                        namespace: str) -> None:
    """A real `helm install` (CRDs from crds/ first) and `helm upgrade`: the generated admin
    token, Postgres password and object store keys survive the upgrade (read back with lookup),
    and all three survive `helm uninstall` (resource-policy keep), as the StatefulSets'
    volume claims do. The bucket Job is a hook that needs a running
    cluster, so hooks are off here (test_chart_lake checks the Job itself)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(kube_client)
    release = f"sw-{uuid.uuid4().hex[:6]}"
    common = ["--kubeconfig", str(kubeconfig), "--namespace", namespace, "--no-hooks"]
    options = ["--set", "postgres.embedded.enabled=true", "--set", "objectStore.embedded.enabled=true",
               "--set", "operator.enabled=false"]
    names = ("admin-token", "postgres", "objectstore")

    def secrets() -> dict[str, dict[str, str]]:
        return {name: core.read_namespaced_secret(f"{release}-smartwatch-{name}", namespace).data
                for name in names}

    proc = run_helm("install", release, str(CHART), *common, *options)
    try:
        assert proc.returncode == 0, helm_errors(proc)
        first = secrets()
        assert set(first["objectstore"]) == {"accessKey", "secretKey"}
        proc = run_helm("upgrade", release, str(CHART), *common, *options, "--set", "api.replicas=3")
        assert proc.returncode == 0, helm_errors(proc)
        assert secrets() == first
        apps = client.AppsV1Api(kube_client)
        assert apps.read_namespaced_deployment(f"{release}-smartwatch-api", namespace).spec.replicas == 3
    finally:
        run_helm("uninstall", release, *common)
    left = {}
    for name in names:
        try:
            left[name] = core.read_namespaced_secret(f"{release}-smartwatch-{name}", namespace).data
        except ApiException as exc:
            assert exc.status == 404, exc
    assert left == first


# --- what the objects say -----------------------------------------------------------------------

@pytest.mark.helm
def test_landing_runs_the_pinned_spark_in_the_chart_image() -> None:
    v = versions()
    app = one_object(render([]), "SparkApplication")
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
        env = container_env(spec[role])
        assert {"SMARTWATCH_KAFKA_BOOTSTRAP", "SMARTWATCH_LAKE_URI", "SMARTWATCH_QUARANTINE_URI",
                "SMARTWATCH_CHECKPOINT_URI"} <= set(env)
        assert env["SMARTWATCH_POSTGRES_DSN"]["valueFrom"]["secretKeyRef"]["key"] == "dsn"


@pytest.mark.helm
def test_the_default_spark_image_is_the_pinned_project_image() -> None:
    """SPARK_IMAGE (the CRD's default run image) is the project's Spark image at the chart's
    appVersion: what the landing job runs by default."""
    app = one_object(render([]), "SparkApplication")
    assert app["spec"]["image"] == versions()["SPARK_IMAGE"]


@pytest.mark.helm
def test_kafka_is_the_pinned_version_with_the_settings_topics() -> None:
    docs = render([])
    kafka = one_object(docs, "Kafka")
    assert kafka["spec"]["kafka"]["version"] == versions()["KAFKA_VERSION"]
    pool = one_object(docs, "KafkaNodePool")
    assert sorted(pool["spec"]["roles"]) == ["broker", "controller"]
    assert pool["spec"]["storage"]["type"] == "persistent-claim"
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    fields = Settings.model_fields
    topics = {t["spec"]["topicName"]: t for t in docs if t["kind"] == "KafkaTopic"}
    assert set(topics) == {fields["events_topic"].default, fields["dead_letter_topic"].default}
    for topic in topics.values():
        assert topic["spec"]["partitions"] == fields["topic_partitions"].default
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    api = one_object(docs, "Deployment", f"{RELEASE}-api")["spec"]["template"]["spec"]["containers"][0]
    assert container_env(api)["SMARTWATCH_KAFKA_BOOTSTRAP"]["value"] == (
        f"{kafka['metadata']['name']}-kafka-bootstrap.smartwatch.svc:9092")


@pytest.mark.helm
def test_external_kafka_renders_no_strimzi_objects() -> None:
    docs = render(CASES["external-kafka"])
    assert not [d for d in docs if d["apiVersion"].startswith("kafka.strimzi.io/")]
    assert not [d for d in docs if d["metadata"]["labels"].get("app.kubernetes.io/component") == "kafka"]
    api = one_object(docs, "Deployment", f"{RELEASE}-api")["spec"]["template"]["spec"]["containers"][0]
    assert container_env(api)["SMARTWATCH_KAFKA_BOOTSTRAP"]["value"] == "kafka.example:9092"


@pytest.mark.helm
def test_api_has_auth_on_probes_and_a_migration_step() -> None:
    assert Settings.model_fields["api_auth"].default is True
    auth_env = Settings.model_config["env_prefix"] + "API_AUTH"
    spec = one_object(render([]), "Deployment", f"{RELEASE}-api")["spec"]["template"]["spec"]
    api = spec["containers"][0]
    env = container_env(api)
    assert env[auth_env]["value"] == "true"
    assert api["command"] == ["smartwatch", "api"]
    assert env["SMARTWATCH_POSTGRES_DSN"]["valueFrom"]["secretKeyRef"] == {
        "name": f"{RELEASE}-postgres", "key": "dsn"}
    assert env["SMARTWATCH_ADMIN_TOKEN_FILE"]["value"].startswith("/var/run/secrets/")
    assert "SMARTWATCH_ADMIN_TOKEN" not in env  # the token is a mounted Secret, not a value
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert [c["command"] for c in spec["initContainers"]] == [
        ["smartwatch", "db", "migrate", "--wait", "300"]]
    off = one_object(render(["--set", "api.auth=false"]), "Deployment", f"{RELEASE}-api")
    assert container_env(off["spec"]["template"]["spec"]["containers"][0])[auth_env]["value"] == "false"


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.helm
def test_every_container_runs_as_non_root(case: str) -> None:
    docs = render(CASES[case])
    checked = 0
    for where, spec in pod_specs(docs).items():
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
            pod = app["spec"][role]["template"]["spec"]
            ctx = {**pod["securityContext"], **pod["containers"][0]["securityContext"]}
            assert pod["enableServiceLinks"] is False
            assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] != 0, f"{app['metadata']['name']} {role}"
            checked += 1
    assert checked


@pytest.mark.helm
def test_api_and_operator_run_as_the_image_user() -> None:
    docs = render([])
    for name in (f"{RELEASE}-api", f"{RELEASE}-operator"):
        spec = one_object(docs, "Deployment", name)["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsUser"] == 10001, name
    dockerfile = (REPO_ROOT / "build" / "images" / "smartwatch.Dockerfile").read_text()
    assert "\nUSER 10001:10001\n" in dockerfile and '\nENTRYPOINT ["smartwatch"]\n' in dockerfile


@pytest.mark.helm
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


@pytest.mark.helm
def test_schedules_use_the_chart_lake_secret_and_spark_image() -> None:
    docs = render([])
    app = one_object(docs, "SparkApplication")
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

