"""The chart's three Kafka modes (kafka.mode): Strimzi's custom resources, the embedded
single-node KRaft StatefulSet of the smartwatch-kafka image, and an external Kafka with its
security settings; in every mode one bootstrap address for the API, the landing job and the
Kafka UI. Server-side validation of these renderings: test_chart.py (CASES)."""

from __future__ import annotations

import posixpath
import re

import pytest

from tests.k8s.chart import (
    APP_VERSION,
    CASES,
    CHART,
    RELEASE,
    container_env,
    one_object,
    render,
    run_helm,
    sets,
)

pytestmark = pytest.mark.helm

NS = "smartwatch"
EMBEDDED = sets("kafka.mode=embedded")
SASL_SSL = CASES["external-kafka-sasl-ssl"]


def _api(docs: list[dict]) -> dict:
    return one_object(docs, "Deployment", f"{RELEASE}-api")["spec"]["template"]["spec"]


def _landing(docs: list[dict]) -> dict:
    return one_object(docs, "SparkApplication")["spec"]


def _bootstraps(docs: list[dict]) -> set[str]:
    """SMARTWATCH_KAFKA_BOOTSTRAP of the API and the landing job's driver and executors, and
    the Kafka UI's bootstrap, when there is one."""
    found = {container_env(_api(docs)["containers"][0])["SMARTWATCH_KAFKA_BOOTSTRAP"]["value"]}
    for role in ("driver", "executor"):
        found.add(container_env(_landing(docs)[role])["SMARTWATCH_KAFKA_BOOTSTRAP"]["value"])
    for ui in (d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("kafka-ui")):
        found.add(container_env(ui["spec"]["template"]["spec"]["containers"][0])
                  ["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"]["value"])
    return found


@pytest.mark.parametrize(("options", "bootstrap"), [
    ([], f"{RELEASE}-kafka-bootstrap.{NS}.svc:9092"),
    (CASES["embedded-kafka"], f"{RELEASE}-kafka.{NS}.svc:9092"),
    (CASES["external-kafka"], "kafka.example:9092"),
    (SASL_SSL, "b1.example:9093,b2.example:9093"),
])
def test_every_client_gets_the_one_bootstrap_address(options: list[str], bootstrap: str) -> None:
    docs = render([*options, "--set", "kafkaUI.enabled=true"])
    assert _bootstraps(docs) == {bootstrap}


def test_strimzi_is_the_default_mode() -> None:
    docs = render([])
    assert {d["kind"] for d in docs} >= {"Kafka", "KafkaNodePool", "KafkaTopic"}
    assert not [d for d in docs if d["kind"] == "StatefulSet"]


# --- embedded ----------------------------------------------------------------------------------

def test_embedded_mode_with_three_nodes_survives_one_lost() -> None:
    """kafka.embedded.replicas=3: three KRaft voters that name each other by their stable
    names, one cluster id, every topic (the chart's and Kafka's own) on 3 nodes with
    min.insync.replicas 2, all pods started at once, and at most one out for a drain.
    (tests/integration/test_kafka_quorum.py runs these settings and kills a node.)"""
    docs = render([*CASES["embedded-kafka"], *sets("kafka.embedded.replicas=3")])
    sts = one_object(docs, "StatefulSet", f"{RELEASE}-kafka")
    assert sts["spec"]["replicas"] == 3
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    env = container_env(sts["spec"]["template"]["spec"]["containers"][0])
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"]["value"] == ",".join(
        f"{i}@{RELEASE}-kafka-{i}.{RELEASE}-kafka-headless.smartwatch.svc:9093" for i in range(3))
    cluster_id = env["KAFKA_CLUSTER_ID"]["value"]
    assert len(cluster_id) == 22 and re.fullmatch(r"[A-Za-z0-9_-]+", cluster_id)
    assert env["KAFKA_TOPICS"]["value"] == "smartwatch.events:6:3 smartwatch.events.dlq:6:3"
    config = dict(line.split("=", 1) for line in env["KAFKA_EXTRA_CONFIG"]["value"].splitlines())
    assert config == {"log.retention.hours": "24", "min.insync.replicas": "2",
                      "default.replication.factor": "3",
                      "offsets.topic.replication.factor": "3",
                      "transaction.state.log.replication.factor": "3",
                      "transaction.state.log.min.isr": "2",
                      "share.coordinator.state.topic.replication.factor": "3",
                      "share.coordinator.state.topic.min.isr": "2"}
    pdb = one_object(docs, "PodDisruptionBudget", f"{RELEASE}-kafka")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= \
        sts["spec"]["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize(("options", "message"), [
    (["kafka.embedded.replicas=2"], "kafka.embedded.replicas 2: a KRaft quorum of 2 nodes stops"),
    (["kafka.embedded.replicas=3", "kafka.embedded.config.min\\.insync\\.replicas=1"],
     "a replication factor of 3 with min.insync.replicas 1 loses acknowledged readings"),
    (["kafka.embedded.replicas=1", "topics.replicas=3"],
     "topics.replicas 3 exceeds kafka.embedded.replicas 1"),
])
def test_embedded_settings_that_lose_readings_are_refused(options: list[str], message: str) -> None:
    proc = run_helm("template", RELEASE, str(CHART), *CASES["embedded-kafka"], *sets(*options))
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_embedded_mode_is_one_kraft_node_of_the_project_image() -> None:
    docs = render(CASES["embedded-kafka"])
    assert not [d for d in docs if d["apiVersion"].startswith("kafka.strimzi.io/")]
    sts = one_object(docs, "StatefulSet", f"{RELEASE}-kafka")
    assert sts["spec"]["replicas"] == 1
    headless = one_object(docs, "Service", f"{RELEASE}-kafka-headless")
    assert sts["spec"]["serviceName"] == headless["metadata"]["name"]
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True  # its name resolves before ready
    client = one_object(docs, "Service", f"{RELEASE}-kafka")
    assert [(p["port"], p["targetPort"]) for p in client["spec"]["ports"]] == [(9092, "kafka")]
    labels = sts["spec"]["template"]["metadata"]["labels"]
    for service in (headless, client):
        assert service["spec"]["selector"].items() <= labels.items()

    pod = sts["spec"]["template"]["spec"]
    (kafka,) = pod["containers"]
    assert kafka["image"] == f"smartwatch-kafka:{APP_VERSION}"
    assert "command" not in kafka and "args" not in kafka  # the image's entrypoint runs the broker
    env = container_env(kafka)
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    advertised = f"$(POD_NAME).{RELEASE}-kafka-headless.$(POD_NAMESPACE).svc"
    assert env["KAFKA_ADVERTISED_HOST"]["value"] == advertised
    assert list(env).index("POD_NAME") < list(env).index("KAFKA_ADVERTISED_HOST")  # $(...) needs order
    assert {k: env[k]["value"] for k in ("KAFKA_PORT", "KAFKA_CONTROLLER_PORT")} == {
        "KAFKA_PORT": "9092", "KAFKA_CONTROLLER_PORT": "9093"}
    # The node id is the pod's ordinal, from the label the StatefulSet controller sets.
    assert env["KAFKA_NODE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == \
        "metadata.labels['apps.kubernetes.io/pod-index']"
    assert "KAFKA_CONTROLLER_QUORUM_VOTERS" not in env  # one node: its own quorum
    assert env["KAFKA_HEAP_OPTS"]["value"] == "-Xms512m -Xmx512m"
    assert env["KAFKA_TOPICS"]["value"] == "smartwatch.events:6:1 smartwatch.events.dlq:6:1"
    assert env["KAFKA_EXTRA_CONFIG"]["value"].splitlines() == ["log.retention.hours=24"]

    mounts = {m["mountPath"]: m["name"] for m in kafka["volumeMounts"]}
    assert mounts == {env["KAFKA_DATA_DIR"]["value"]: "data", "/tmp": "tmp"}
    assert env["KAFKA_DATA_DIR"]["value"] == "/var/lib/kafka/data"
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {}}]

    assert pod["securityContext"]["runAsUser"] == pod["securityContext"]["runAsGroup"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert kafka["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                        "capabilities": {"drop": ["ALL"]}}
    assert kafka["readinessProbe"]["exec"]["command"] == ["smartwatch-kafka", "ready"]
    assert kafka["livenessProbe"]["tcpSocket"]["port"] == "kafka"
    assert {p["name"]: p["containerPort"] for p in kafka["ports"]} == {"kafka": 9092, "controller": 9093}


def test_embedded_kafka_values_reach_the_broker() -> None:
    docs = render([*EMBEDDED, *sets("kafka.embedded.image.repository=registry.example/kafka",
                                    "kafka.embedded.image.tag=4.2.1-1",
                                    "kafka.embedded.image.pullPolicy=Never",
                                    "kafka.embedded.storage.size=1Gi", "kafka.embedded.storage.class=fast",
                                    "kafka.embedded.heapOpts=-Xmx256m", "topics.partitions=3",
                                    "topics.events=ev", "topics.deadLetter=dl",
                                    "kafka.embedded.resources.requests.cpu=50m")])
    sts = one_object(docs, "StatefulSet", f"{RELEASE}-kafka")
    (kafka,) = sts["spec"]["template"]["spec"]["containers"]
    assert kafka["image"] == "registry.example/kafka:4.2.1-1"
    assert kafka["imagePullPolicy"] == "Never"
    assert kafka["resources"]["requests"]["cpu"] == "50m"
    env = container_env(kafka)
    assert env["KAFKA_TOPICS"]["value"] == "ev:3:1 dl:3:1"
    assert env["KAFKA_HEAP_OPTS"]["value"] == "-Xmx256m"
    assert env["KAFKA_EXTRA_CONFIG"]["value"].split() == ["log.retention.hours=168"]
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == "fast"
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    api = container_env(_api(docs)["containers"][0])
    assert api["SMARTWATCH_EVENTS_TOPIC"]["value"] == "ev"
    assert api["SMARTWATCH_DEAD_LETTER_TOPIC"]["value"] == "dl"


# --- external ----------------------------------------------------------------------------------

def test_external_plaintext_kafka_has_no_login() -> None:
    docs = render(CASES["external-kafka"])
    for env in (container_env(_api(docs)["containers"][0]), container_env(_landing(docs)["driver"])):
        assert env["SMARTWATCH_KAFKA_SECURITY_PROTOCOL"]["value"] == "PLAINTEXT"
        assert not {"SMARTWATCH_KAFKA_SASL_MECHANISM", "SMARTWATCH_KAFKA_SASL_USERNAME",
                    "SMARTWATCH_KAFKA_SASL_PASSWORD", "SMARTWATCH_KAFKA_SSL_CA_FILE"} & set(env)
    assert "secrets" not in _landing(docs)["driver"]


def test_external_sasl_ssl_kafka_logs_in_from_the_secret_and_trusts_its_ca() -> None:
    docs = render(SASL_SSL)
    api = _api(docs)
    container = api["containers"][0]
    env = container_env(container)
    assert env["SMARTWATCH_KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
    assert env["SMARTWATCH_KAFKA_SASL_MECHANISM"]["value"] == "SCRAM-SHA-256"
    assert env["SMARTWATCH_KAFKA_SASL_USERNAME"]["valueFrom"]["secretKeyRef"] == {
        "name": "kafka-login", "key": "username"}
    assert env["SMARTWATCH_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "kafka-login", "key": "password"}
    ca_file = env["SMARTWATCH_KAFKA_SSL_CA_FILE"]["value"]
    # The API pod mounts only the CA key of the Secret, where the variable points.
    mount = next(m for m in container["volumeMounts"] if m["name"] == "kafka-ca")
    volume = next(v for v in api["volumes"] if v["name"] == "kafka-ca")
    assert volume["secret"]["secretName"] == "kafka-login"
    (item,) = volume["secret"]["items"]
    assert item == {"key": "ca.crt", "path": "ca.crt"}
    assert ca_file == posixpath.join(mount["mountPath"], item["path"])
    # The landing job: the same variables; the Secret mounted by spark-operator (`secrets`).
    landing = _landing(docs)
    for role in ("driver", "executor"):
        role_env = container_env(landing[role])
        for name in ("SMARTWATCH_KAFKA_SECURITY_PROTOCOL", "SMARTWATCH_KAFKA_SASL_MECHANISM",
                     "SMARTWATCH_KAFKA_SASL_USERNAME", "SMARTWATCH_KAFKA_SASL_PASSWORD",
                     "SMARTWATCH_KAFKA_SSL_CA_FILE"):
            assert role_env[name] == env[name], (role, name)
        assert landing[role]["secrets"] == [{"name": "kafka-login", "path": posixpath.dirname(ca_file),
                                             "secretType": "Generic"}]
    # The Kafka UI logs in the same way.
    ui = one_object(docs, "Deployment", f"{RELEASE}-kafka-ui")["spec"]["template"]["spec"]
    ui_env = container_env(ui["containers"][0])
    assert ui_env["KAFKA_CLUSTERS_0_PROPERTIES_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
    assert ui_env["KAFKA_CLUSTERS_0_PROPERTIES_SASL_MECHANISM"]["value"] == "SCRAM-SHA-256"
    jaas = ui_env["KAFKA_CLUSTERS_0_PROPERTIES_SASL_JAAS_CONFIG"]["value"]
    assert jaas.startswith("org.apache.kafka.common.security.scram.ScramLoginModule required ")
    assert 'username="$(KAFKA_SASL_USERNAME)"' in jaas and 'password="$(KAFKA_SASL_PASSWORD)"' in jaas
    assert ui_env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "kafka-login"
    assert ui_env["KAFKA_CLUSTERS_0_PROPERTIES_SSL_TRUSTSTORE_LOCATION"]["value"] == ca_file


def test_external_kafka_secret_keys_are_values() -> None:
    docs = render([*SASL_SSL, *sets("kafka.external.usernameKey=user", "kafka.external.passwordKey=pw",
                                    "kafka.external.caKey=tls.ca", "kafka.external.sasl.mechanism=PLAIN")])
    env = container_env(_api(docs)["containers"][0])
    assert env["SMARTWATCH_KAFKA_SASL_USERNAME"]["valueFrom"]["secretKeyRef"]["key"] == "user"
    assert env["SMARTWATCH_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "pw"
    assert env["SMARTWATCH_KAFKA_SSL_CA_FILE"]["value"].endswith("/tls.ca")
    ui_pod = one_object(docs, "Deployment", f"{RELEASE}-kafka-ui")["spec"]["template"]["spec"]
    ui = container_env(ui_pod["containers"][0])
    assert ui["KAFKA_CLUSTERS_0_PROPERTIES_SASL_JAAS_CONFIG"]["value"].startswith(
        "org.apache.kafka.common.security.plain.PlainLoginModule required ")


@pytest.mark.parametrize("options", [
    sets("kafka.external.caKey="),  # trust the image's CA bundle
    sets("kafka.external.securityProtocol=SASL_PLAINTEXT"),  # no TLS
])
def test_external_kafka_without_a_ca_file(options: list[str]) -> None:
    docs = render([*SASL_SSL, *options])
    api = _api(docs)
    assert "SMARTWATCH_KAFKA_SSL_CA_FILE" not in container_env(api["containers"][0])
    assert "kafka-ca" not in {v["name"] for v in api["volumes"]}
    assert "secrets" not in _landing(docs)["driver"]
    assert "SMARTWATCH_KAFKA_SASL_PASSWORD" in container_env(api["containers"][0])


def test_external_ssl_kafka_needs_no_login() -> None:
    env = container_env(_api(render(CASES["external-kafka-ssl"]))["containers"][0])
    assert env["SMARTWATCH_KAFKA_SECURITY_PROTOCOL"]["value"] == "SSL"
    assert env["SMARTWATCH_KAFKA_SSL_CA_FILE"]["value"].endswith("/ca.crt")
    assert "SMARTWATCH_KAFKA_SASL_USERNAME" not in env and "SMARTWATCH_KAFKA_SASL_MECHANISM" not in env


def test_no_kafka_credential_is_ever_a_literal() -> None:
    for case in ("external-kafka-sasl-ssl", "external-kafka-ssl"):
        for doc in render(CASES[case]):
            for where in _containers(doc):
                for name, entry in container_env(where).items():
                    if "SASL_USERNAME" in name or "SASL_PASSWORD" in name:
                        assert "value" not in entry and "secretKeyRef" in entry["valueFrom"], (case, name)


def _containers(doc: dict) -> list[dict]:
    if doc["kind"] == "SparkApplication":
        return [doc["spec"]["driver"], doc["spec"]["executor"]]
    if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
        spec = doc["spec"]["template"]["spec"]
        return [*spec.get("initContainers", []), *spec["containers"]]
    return []


# --- surviving a broker ----------------------------------------------------------------------

def _broker_config(docs: list[dict]) -> dict:
    return one_object(docs, "Kafka")["spec"]["kafka"]["config"]


def test_strimzi_defaults_survive_one_lost_broker() -> None:
    """3 nodes, every topic (internal ones too) on 3 of them, an acknowledgement on 2 disks."""
    docs = render([])
    assert one_object(docs, "KafkaNodePool")["spec"]["replicas"] == 3
    config = _broker_config(docs)
    assert {k: config[k] for k in ("default.replication.factor", "offsets.topic.replication.factor",
                                   "transaction.state.log.replication.factor")} == dict.fromkeys(
        ("default.replication.factor", "offsets.topic.replication.factor",
         "transaction.state.log.replication.factor"), 3)
    assert config["min.insync.replicas"] == 2 and config["transaction.state.log.min.isr"] == 2
    assert {t["spec"]["replicas"] for t in docs if t["kind"] == "KafkaTopic"} == {3}


@pytest.mark.parametrize(("options", "message"), [
    # A replication factor above 1 acknowledged by one disk: one lost broker loses readings.
    (sets("kafka.config.min\\.insync\\.replicas=1"),
     "kafka: a replication factor of 3 with min.insync.replicas 1 loses acknowledged readings"),
    (sets("topics.eventsConfig.min\\.insync\\.replicas=1"),
     "kafka: a replication factor of 3 with min.insync.replicas 1 loses acknowledged readings"),
    (sets("kafka.replicas=2", "kafka.config.min\\.insync\\.replicas=1"),
     "kafka: a replication factor of 2 with min.insync.replicas 1 loses acknowledged readings"),
    (sets("kafka.replicas=2", "topics.replicas=3"), "topics.replicas 3 exceeds kafka.replicas 2"),
    (sets("kafka.config.min\\.insync\\.replicas=4"),
     "min.insync.replicas 4 exceeds the replication factor 3"),
])
def test_combinations_that_lose_acknowledged_readings_are_refused(options: list[str],
                                                                  message: str) -> None:
    from tests.k8s.chart import CHART, run_helm

    proc = run_helm("template", "r", str(CHART), *options)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr


def test_a_user_may_accept_the_risk_by_a_value_and_notes_say_so() -> None:
    docs = render(sets("kafka.config.min\\.insync\\.replicas=1", "kafka.acceptDataLossOnBrokerLoss=true"))
    assert _broker_config(docs)["min.insync.replicas"] == 1


def test_two_brokers_acknowledge_on_both() -> None:
    # min.insync.replicas 2 of 2: a lost broker stops writes (503 and retries) but loses nothing.
    docs = render(sets("kafka.replicas=2"))
    assert _broker_config(docs)["min.insync.replicas"] == 2


@pytest.mark.parametrize("options", [sets("kafka.replicas=1"), EMBEDDED])
def test_one_broker_stays_allowed_for_development(options: list[str]) -> None:
    render(options)


def test_retention_is_an_explicit_value_of_7_days_in_both_modes() -> None:
    topics = [d for d in render([]) if d["kind"] == "KafkaTopic"]
    assert [t["spec"]["config"]["retention.ms"] for t in topics] == [7 * 24 * 3600 * 1000] * 2
    longer = [d for d in render(sets("topics.retentionHours=720",
                                     "topics.eventsConfig.max\\.message\\.bytes=2000000"))
              if d["kind"] == "KafkaTopic"]
    assert longer[0]["spec"]["config"] == {"retention.ms": 720 * 3600 * 1000,
                                           "max.message.bytes": 2000000}
    sts = one_object(render(EMBEDDED), "StatefulSet", f"{RELEASE}-kafka")
    extra = container_env(sts["spec"]["template"]["spec"]["containers"][0])["KAFKA_EXTRA_CONFIG"]["value"]
    assert "log.retention.hours=168" in extra.splitlines()
