"""What users expect of a chart, each behind a value: the API's autoscaler, disruption budget
and drain-safe rollout, NetworkPolicies, the Ingress, ServiceMonitors and PodMonitors (rendered
only: their CRDs are not on the test API server), the operator's ports, the Kafka UI; and the
kind values (ci/kind.yaml). Server-side validation of these renderings: test_chart.py (CASES)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml

from smartwatch.api.routes import health
from tests.k8s.chart import (
    CASES,
    KIND_VALUES,
    RELEASE,
    VALUES,
    container_env,
    one_object,
    pod_specs,
    render,
    sets,
)

pytestmark = pytest.mark.helm

API = f"{RELEASE}-api"


def _deployment(docs: list[dict], name: str = API) -> dict:
    return one_object(docs, "Deployment", name)


def _kinds(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


# --- the API's rollout, autoscaler and disruption budget --------------------------------------------

def test_the_api_rolls_without_dropping_requests() -> None:
    deployment = _deployment(render([]))
    assert deployment["spec"]["strategy"] == {"type": "RollingUpdate",
                                              "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    pod = deployment["spec"]["template"]["spec"]
    (api,) = pod["containers"]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["lifecycle"]["preStop"]["exec"]["command"] == ["/bin/sleep", "5"]
    assert pod["terminationGracePeriodSeconds"] == 30 > VALUES["api"]["preStopSeconds"]
    changed = _deployment(render(sets("api.preStopSeconds=12", "api.terminationGracePeriodSeconds=40")))
    pod = changed["spec"]["template"]["spec"]
    assert pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"] == ["/bin/sleep", "12"]
    assert pod["terminationGracePeriodSeconds"] == 40
    none = _deployment(render(sets("api.preStopSeconds=0")))
    assert "lifecycle" not in none["spec"]["template"]["spec"]["containers"][0]


def test_autoscaling_is_an_hpa_that_owns_the_replicas() -> None:
    docs = render([])
    assert _deployment(docs)["spec"]["replicas"] == 2
    assert not _kinds(docs, "HorizontalPodAutoscaler")
    docs = render(sets("api.autoscaling.enabled=true", "api.autoscaling.minReplicas=3",
                       "api.autoscaling.maxReplicas=7", "api.autoscaling.targetCPUUtilizationPercentage=65"))
    assert "replicas" not in _deployment(docs)["spec"]
    hpa = one_object(docs, "HorizontalPodAutoscaler", API)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": API}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 7)
    assert hpa["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 65}}}]


@pytest.mark.parametrize(("options", "expected"), [
    ([], {"minAvailable": 1}),
    (sets("api.podDisruptionBudget.maxUnavailable=25%"), {"maxUnavailable": "25%"}),
    (sets("api.podDisruptionBudget.minAvailable=50%"), {"minAvailable": "50%"}),
    (sets("api.replicas=1"), None),  # one pod: a budget would block every drain
    (sets("api.podDisruptionBudget.enabled=false"), None),
    (sets("api.autoscaling.enabled=true", "api.autoscaling.minReplicas=1"), None),
    (sets("api.autoscaling.enabled=true", "api.replicas=1"), {"minAvailable": 1}),
])
def test_the_api_disruption_budget(options: list[str], expected: dict | None) -> None:
    docs = render(options)
    budgets = _kinds(docs, "PodDisruptionBudget")
    if expected is None:
        assert not budgets
        return
    pdb = budgets[API]
    assert pdb["apiVersion"] == "policy/v1"
    assert {k: v for k, v in pdb["spec"].items() if k != "selector"} == expected
    assert pdb["spec"]["selector"] == _deployment(docs)["spec"]["selector"]


# --- NetworkPolicies ---------------------------------------------------------------------------------

def test_no_network_policies_by_default() -> None:
    assert not _kinds(render([*CASES["embedded-everything"], *sets("networkPolicy.enabled=false")]),
                      "NetworkPolicy")


def test_embedded_services_accept_only_the_release_and_its_runs() -> None:
    docs = render(CASES["embedded-everything"])
    policies = _kinds(docs, "NetworkPolicy")
    assert set(policies) == {API, f"{RELEASE}-kafka", f"{RELEASE}-postgres", f"{RELEASE}-objectstore"}
    release_peer = {"podSelector": {"matchLabels": {"app.kubernetes.io/instance": RELEASE}}}
    runs_peer = {"podSelector": {"matchLabels": {"app.kubernetes.io/managed-by": "smartwatch-operator"}}}
    ports = {f"{RELEASE}-kafka": {9092, 9093}, f"{RELEASE}-postgres": {5432},
             f"{RELEASE}-objectstore": {8333}}
    workloads = {d["metadata"]["name"]: d for d in docs if d["kind"] in ("StatefulSet", "Deployment")}
    for name, allowed in ports.items():
        spec = policies[name]["spec"]
        assert spec["policyTypes"] == ["Ingress"]
        (rule,) = spec["ingress"]
        assert rule["from"] == [release_peer, runs_peer]
        assert {p["port"] for p in rule["ports"]} == allowed
        # The policy selects the component's pods, and only them.
        labels = workloads[name]["spec"]["template"]["metadata"]["labels"]
        assert spec["podSelector"]["matchLabels"].items() <= labels.items()
    # Every client of theirs carries the release label: API, Kafka UI, bucket Job, Spark pods.
    templates = [d["spec"]["template"] for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job")]
    # API, operator, Kafka UI, Kafka, Postgres, object store, bucket Job, schedules clean-up Job
    assert len(templates) == 8
    for template in templates:
        assert template["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE
    landing = render([*CASES["embedded-everything"], *sets("landing.enabled=true")])
    app = one_object(landing, "SparkApplication")
    for role in ("driver", "executor"):
        assert app["spec"][role]["labels"]["app.kubernetes.io/instance"] == RELEASE
    assert app["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE


def test_the_api_accepts_its_port_from_anywhere_or_the_given_peers() -> None:
    docs = render(CASES["embedded-everything"])
    (rule,) = one_object(docs, "NetworkPolicy", API)["spec"]["ingress"]
    assert rule == {"ports": [{"port": VALUES["api"]["port"], "protocol": "TCP"}]}
    peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]
    docs = render([*sets("networkPolicy.enabled=true"),
                   "--set-json", f"networkPolicy.apiIngressFrom={json.dumps(peers)}"])
    (rule,) = one_object(docs, "NetworkPolicy", API)["spec"]["ingress"]
    assert rule["from"] == peers
    # Strimzi's Kafka and an external Postgres are not the chart's to fence.
    assert set(_kinds(docs, "NetworkPolicy")) == {API}


# --- Ingress ---------------------------------------------------------------------------------------

def test_the_ingress_routes_to_the_api_service() -> None:
    assert not _kinds(render([]), "Ingress")
    docs = render(CASES["embedded-everything"])
    ingress = one_object(docs, "Ingress", API)
    assert ingress["apiVersion"] == "networking.k8s.io/v1"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"secretName": "smartwatch-tls", "hosts": ["smartwatch.example.com"]}]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "smartwatch.example.com"
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/", "Prefix")
    service = one_object(docs, "Service", API)
    assert path["backend"]["service"] == {"name": service["metadata"]["name"],
                                          "port": {"name": service["spec"]["ports"][0]["name"]}}
    docs = render(["--set", "api.ingress.enabled=true", "--set", "api.ingress.annotations.a=b",
                   "--set-json", 'api.ingress.hosts=[{"paths":[{"path":"/v1"}]}]'])
    ingress = one_object(docs, "Ingress", API)
    assert ingress["metadata"]["annotations"] == {"a": "b"}
    assert "ingressClassName" not in ingress["spec"] and "tls" not in ingress["spec"]
    (rule,) = ingress["spec"]["rules"]
    assert "host" not in rule and rule["http"]["paths"][0]["pathType"] == "Prefix"


# --- metrics -----------------------------------------------------------------------------------------

def test_the_api_serves_metrics_where_the_monitors_scrape() -> None:
    assert "/metrics" in {route.path for route in health.router.routes}  # type: ignore[attr-defined]


def test_service_monitors_select_the_api_and_operator_metrics_services() -> None:
    assert not _kinds(render([]), "ServiceMonitor") and not _kinds(render([]), "PodMonitor")
    docs = render(sets("metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.interval=15s",
                       "metrics.serviceMonitor.labels.release=prom"))
    monitors = _kinds(docs, "ServiceMonitor")
    assert set(monitors) == {API, f"{RELEASE}-operator"}
    services = _kinds(docs, "Service")
    pods = {d["metadata"]["name"]: d["spec"]["template"] for d in docs if d["kind"] == "Deployment"}
    for name, monitor in monitors.items():
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["metadata"]["labels"]["release"] == "prom"
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics" and endpoint["interval"] == "15s"
        selected = [s for s in services.values()
                    if monitor["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()]
        (service,) = selected
        port = next(p for p in service["spec"]["ports"] if p["name"] == endpoint["port"])
        # The Service's port leads to the container port of that name.
        container = pods[name]["spec"]["containers"][0]
        assert port["targetPort"] in {p["name"] for p in container["ports"]}
    metrics_port = services[f"{RELEASE}-operator-metrics"]["spec"]["ports"][0]["port"]
    assert metrics_port == VALUES["operator"]["metricsPort"]


def test_pod_monitors_select_the_api_operator_and_landing_pods() -> None:
    docs = render(sets("metrics.podMonitor.enabled=true"))
    monitors = _kinds(docs, "PodMonitor")
    assert set(monitors) == {API, f"{RELEASE}-operator", f"{RELEASE}-landing"}
    assert f"{RELEASE}-operator-metrics" not in _kinds(docs, "Service")
    # The landing's driver pod: the SparkApplication's driver labels, and the role label Spark
    # puts on driver pods; its metrics port in the driver's template, and in its settings.
    landing = monitors.pop(f"{RELEASE}-landing")
    driver = _kinds(docs, "SparkApplication")[f"{RELEASE}-landing"]["spec"]["driver"]
    assert landing["spec"]["selector"]["matchLabels"] == {**driver["labels"], "spark-role": "driver"}
    (endpoint,) = landing["spec"]["podMetricsEndpoints"]
    (container,) = driver["template"]["spec"]["containers"]
    assert container["ports"] == [{"name": endpoint["port"], "containerPort": 9464}]
    assert {"name": "SMARTWATCH_LANDING_METRICS_PORT", "value": "9464"} in container["env"]
    for name, monitor in monitors.items():
        template = _deployment(docs, name)["spec"]["template"]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        assert endpoint["path"] == "/metrics" and endpoint["interval"] == "30s"
        assert endpoint["port"] in {p["name"] for p in template["spec"]["containers"][0]["ports"]}


def test_the_operator_ports_are_values() -> None:
    for metrics, health_port in ((9090, 8080), (9191, 8181)):
        docs = render(sets(f"operator.metricsPort={metrics}", f"operator.healthPort={health_port}"))
        (container,) = _deployment(docs, f"{RELEASE}-operator")["spec"]["template"]["spec"]["containers"]
        command = container["command"]
        assert command[command.index("--metrics-port") + 1] == str(metrics)
        assert command[command.index("--liveness-port") + 1] == str(health_port)
        assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"health": health_port,
                                                                                 "metrics": metrics}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}


# --- the Kafka UI ------------------------------------------------------------------------------------

def test_the_kafka_ui_serves_on_8085_and_points_at_the_release_kafka() -> None:
    assert not [d for d in render([]) if d["metadata"]["name"].endswith("kafka-ui")]
    docs = render(CASES["embedded-kafka"])
    name = f"{RELEASE}-kafka-ui"
    service = one_object(docs, "Service", name)
    (port,) = service["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (8085, "http")
    pod = _deployment(docs, name)["spec"]["template"]["spec"]
    (ui,) = pod["containers"]
    assert {p["name"]: p["containerPort"] for p in ui["ports"]} == {"http": 8080}
    assert ui["image"] == f"kafbat/kafka-ui:{VALUES['kafkaUI']['image']['tag']}"
    env = container_env(ui)
    assert env["KAFKA_CLUSTERS_0_NAME"]["value"] == RELEASE
    api = container_env(_deployment(docs)["spec"]["template"]["spec"]["containers"][0])
    assert env["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"]["value"] == api["SMARTWATCH_KAFKA_BOOTSTRAP"]["value"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert ui["securityContext"]["readOnlyRootFilesystem"] is True
    extra = render([*CASES["embedded-kafka"], *sets("kafkaUI.env.AUTH_TYPE=LOGIN_FORM")])
    extra_env = container_env(_deployment(extra, name)["spec"]["template"]["spec"]["containers"][0])
    assert extra_env["AUTH_TYPE"]["value"] == "LOGIN_FORM"


# --- ci/kind.yaml ------------------------------------------------------------------------------------

def test_the_kind_values() -> None:
    values = yaml.safe_load(KIND_VALUES.read_text())
    assert values["kafka"]["mode"] == "embedded"
    assert values["postgres"]["embedded"]["enabled"] is True
    assert values["objectStore"]["embedded"]["enabled"] is True
    assert values["lake"]["uri"] == "s3a://smartwatch-lake/events"
    assert values["api"]["auth"] is True and values["api"]["replicas"] == 2
    assert values["networkPolicy"]["enabled"] is True
    assert values["landing"]["enabled"] is False and values["schedules"] == []
    docs = render(CASES["ci-kind"])
    assert one_object(docs, "PodDisruptionBudget", API)
    assert _kinds(docs, "NetworkPolicy")
    assert not [d for d in docs if d["kind"] in ("SparkApplication", "AggregationSchedule")]
    assert not [d for d in docs if d["apiVersion"].startswith("kafka.strimzi.io/")]
    job = one_object(docs, "Job")
    (bucket,) = job["spec"]["template"]["spec"]["containers"]
    assert bucket["args"] == ["bucket", "smartwatch-lake"]
    # The installer's --set of every image lands, and nothing is pulled.
    images = {}
    for where, pod in pod_specs(docs).items():
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            images[f"{where}/{container['name']}"] = container["image"]
            assert container["imagePullPolicy"] in ("IfNotPresent", "Never"), where
            requests = container.get("resources", {}).get("requests", {})
            assert requests.get("cpu") == "50m", (where, requests)
    assert set(images.values()) == {f"{repo}:dev" for repo in (
        "smartwatch", "smartwatch-kafka", "smartwatch-postgres", "smartwatch-objectstore")}
    claims = [c for d in docs if d["kind"] == "StatefulSet" for c in d["spec"]["volumeClaimTemplates"]]
    assert {c["spec"]["resources"]["requests"]["storage"] for c in claims} == {"1Gi"}
    spark = render([*CASES["ci-kind"], *sets("landing.enabled=true")])
    assert one_object(spark, "SparkApplication")["spec"]["image"] == "smartwatch-spark:dev"


def test_a_pre_delete_job_lets_the_schedules_go_before_the_operator() -> None:
    docs = render([])
    def cleanup(kind: str, docs: list[dict]) -> list[dict]:
        return [d for d in docs if d["kind"] == kind
                and d["metadata"]["name"].endswith("-schedules-cleanup")]

    (job,) = cleanup("Job", docs)
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-delete"
    (role,) = cleanup("Role", docs)
    assert role["rules"] == [{"apiGroups": ["smartwatch.dev"], "resources": ["aggregationschedules"],
                              "verbs": ["get", "list", "delete", "patch"]}]
    script = job["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "app.kubernetes.io/instance=smartwatch" in script and "smartwatch.dev/operator" in script
    # No schedules, no hook.
    assert cleanup("Job", render(["--set", "schedules=null"])) == []


def test_default_schedules_fold_in_late_readings_of_any_age() -> None:
    """Every default schedule is `mode: dirty`: its scheduled runs are `aggregate --dirty`
    (smartwatch_operator.sparkapp), which recompute every window that readings landed since the
    last run touch, however old (tests/integration/jobs/test_aggregate.py::
    test_late_events_and_a_new_owner_are_picked_up_by_dirty_runs); a lookback schedule would
    never count a reading older than its lookback."""
    from smartwatch.periods import align
    from smartwatch_operator import sparkapp

    schedules = {d["spec"]["granularity"]: d for d in render([]) if d["kind"] == "AggregationSchedule"}
    assert set(schedules) == {"daily", "weekly", "monthly"}
    for granularity, schedule in schedules.items():
        assert schedule["spec"]["mode"] == "dirty" and "lookback" not in schedule["spec"]
        window = align(granularity, dt.date(2026, 11, 2), dt.date(2026, 11, 2))
        args = sparkapp._arguments(schedule["spec"], window, "s", "run")
        assert args == ["aggregate", "--granularity", granularity, "--dirty", "--run-name", "run"]


def test_the_operator_counts_dirty_dates_of_the_default_schedules() -> None:
    """The operator is given the Secret the chart's schedules name, and the DSN it holds
    (smartwatch_operator.dirty): their status.dirtyDates is counted in that Postgres."""
    from smartwatch_operator.dirty import DirtyCounter, parse_secret

    docs = render([])
    (container,) = _deployment(docs, f"{RELEASE}-operator")["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    secret = parse_secret(command[command.index("--postgres-secret") + 1])
    (dsn,) = [e for e in container["env"] if e["name"] == "SMARTWATCH_POSTGRES_DSN"]
    assert dsn["valueFrom"]["secretKeyRef"] == {"name": secret[1], "key": secret[2]}
    counter = DirtyCounter(lambda g: 0, secret)
    schedules = [d for d in docs if d["kind"] == "AggregationSchedule"]
    assert len(schedules) == 3
    for schedule in schedules:
        assert counter.applies(schedule["metadata"].get("namespace", "smartwatch"), schedule["spec"])


def _operator_policy(docs: list[dict]):
    """The RunPolicy the rendered operator Deployment's arguments give, parsed by the
    operator's own argument parser."""
    import argparse

    from smartwatch_operator.main import add_arguments
    from smartwatch_operator.policy import RunPolicy

    (container,) = _deployment(docs, f"{RELEASE}-operator")["spec"]["template"]["spec"]["containers"]
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(container["command"][container["command"].index("operator") + 1:])
    return RunPolicy(tuple(args.allow_image), tuple(args.allow_service_account),
                     tuple(args.allow_secret))


@pytest.mark.parametrize("options", [
    [], ["-f", str(KIND_VALUES), "-f", str(KIND_VALUES.parent / "kind-spark.yaml")]],
    ids=["defaults", "kind"])
def test_the_operators_policy_allows_the_charts_own_schedules_only(options: list[str]) -> None:
    docs = render(options)
    policy = _operator_policy(docs)
    schedules = [d["spec"] for d in docs if d["kind"] == "AggregationSchedule"]
    assert policy.images == (schedules[0]["spark"]["image"],)
    assert policy.service_accounts == ("spark",)
    assert policy.secrets[0] == f"{RELEASE}-postgres"
    assert schedules and all(policy.violation(s) is None for s in schedules)
    assert policy.violation({**schedules[0], "spark": {**schedules[0]["spark"],
                                                       "image": "evil/miner:1"}})


def test_the_policy_takes_further_patterns_or_is_turned_off() -> None:
    more = _operator_policy(render(sets("operator.policy.images={registry.example/spark:*}",
                                        "operator.policy.secrets={team-*}")))
    assert more.images == ("smartwatch-spark:0.1.0", "registry.example/spark:*")
    assert more.secrets[-1] == "team-*"
    off = _operator_policy(render(sets("operator.policy.enabled=false")))
    assert not off.restricts


def test_watch_namespaces_scopes_the_operator_and_its_grants() -> None:
    """With operator.watchNamespaces, the operator watches those namespaces only; its grants
    are Roles there, and cluster-wide only the reading of CRDs (docs/operator.md, "Scope")."""
    docs = render(["--namespace", "smartwatch",
                   *sets("operator.watchNamespaces={smartwatch,team-a}")])
    operator = [d for d in docs if d["metadata"]["name"] == f"{RELEASE}-operator"]
    (cluster_role,) = [d for d in operator if d["kind"] == "ClusterRole"]
    assert cluster_role["rules"] == [{"apiGroups": ["apiextensions.k8s.io"],
                                      "resources": ["customresourcedefinitions"],
                                      "verbs": ["list", "watch"]}]
    roles = {d["metadata"]["namespace"]: d for d in operator if d["kind"] == "Role"}
    bindings = {d["metadata"]["namespace"] for d in operator if d["kind"] == "RoleBinding"}
    assert set(roles) == bindings == {"smartwatch", "team-a"}
    granted = {r for rule in roles["team-a"]["rules"] for r in rule["resources"]}
    assert {"aggregationschedules", "sparkapplications", "kopfpeerings"} <= granted
    assert "namespaces" not in granted and "clusterkopfpeerings" not in granted
    peerings = [d for d in docs if d["kind"] in ("KopfPeering", "ClusterKopfPeering")]
    assert {(d["kind"], d["metadata"].get("namespace")) for d in peerings} == {
        ("KopfPeering", "smartwatch"), ("KopfPeering", "team-a")}
    (container,) = _deployment(docs, f"{RELEASE}-operator")["spec"]["template"]["spec"]["containers"]
    args = container["command"]
    assert "--all-namespaces" not in args
    assert [args[i + 1] for i, a in enumerate(args) if a == "--namespace"] == ["smartwatch",
                                                                              "team-a"]
    # The default: every namespace, one ClusterRole and a ClusterKopfPeering.
    default = render([])
    (container,) = _deployment(default, f"{RELEASE}-operator")["spec"]["template"]["spec"]["containers"]
    assert "--all-namespaces" in container["command"]
    assert not [d for d in default if d["kind"] in ("Role", "KopfPeering")
                and d["metadata"]["name"] == f"{RELEASE}-operator"]


def test_watch_namespaces_without_the_releases_namespace_is_refused() -> None:
    from tests.k8s.chart import run_helm

    proc = run_helm("template", RELEASE, str(KIND_VALUES.parent.parent), "--namespace",
                    "smartwatch", *sets("operator.watchNamespaces={team-a}"))
    assert proc.returncode != 0
    assert "operator.watchNamespaces [team-a] leaves out the release's namespace smartwatch" \
        in proc.stderr
