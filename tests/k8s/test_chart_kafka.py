"""The chart's three Kafka modes (kafka.mode): Strimzi's custom resources, the embedded
single-node KRaft StatefulSet of the smartwatch-kafka image, and an external Kafka with its
security settings; in every mode one bootstrap address for the API, the landing job and the
Kafka UI. Server-side validation of these renderings: test_chart.py (CASES)."""

from __future__ import annotations

import posixpath

import pytest

from tests.k8s.chart import APP_VERSION, CASES, RELEASE, _env, _one, render, sets

pytestmark = pytest.mark.k8s

NS = "smartwatch"
EMBEDDED = sets("kafka.mode=embedded")
SASL_SSL = CASES["external-kafka-sasl-ssl"]


def _api(docs: list[dict]) -> dict:
    return _one(docs, "Deployment", f"{RELEASE}-api")["spec"]["template"]["spec"]


def _landing(docs: list[dict]) -> dict:
    return _one(docs, "SparkApplication")["spec"]


def _bootstraps(docs: list[dict]) -> set[str]:
    """SMARTWATCH_KAFKA_BOOTSTRAP of the API and the landing job's driver and executors, and
    the Kafka UI's bootstrap, when there is one."""
    found = {_env(_api(docs)["containers"][0])["SMARTWATCH_KAFKA_BOOTSTRAP"]["value"]}
    for role in ("driver", "executor"):
        found.add(_env(_landing(docs)[role])["SMARTWATCH_KAFKA_BOOTSTRAP"]["value"])
    for ui in (d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("kafka-ui")):
        found.add(_env(ui["spec"]["template"]["spec"]["containers"][0])
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

def test_embedded_mode_is_one_kraft_node_of_the_project_image() -> None:
    docs = render(CASES["embedded-kafka"])
    assert not [d for d in docs if d["apiVersion"].startswith("kafka.strimzi.io/")]
    sts = _one(docs, "StatefulSet", f"{RELEASE}-kafka")
    assert sts["spec"]["replicas"] == 1
    headless = _one(docs, "Service", f"{RELEASE}-kafka-headless")
    assert sts["spec"]["serviceName"] == headless["metadata"]["name"]
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True  # its name resolves before ready
    client = _one(docs, "Service", f"{RELEASE}-kafka")
    assert [(p["port"], p["targetPort"]) for p in client["spec"]["ports"]] == [(9092, "kafka")]
    labels = sts["spec"]["template"]["metadata"]["labels"]
    for service in (headless, client):
        assert service["spec"]["selector"].items() <= labels.items()

    pod = sts["spec"]["template"]["spec"]
    (kafka,) = pod["containers"]
    assert kafka["image"] == f"smartwatch-kafka:{APP_VERSION}"
    assert "command" not in kafka and "args" not in kafka  # the image's entrypoint runs the broker
    env = _env(kafka)
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    advertised = f"$(POD_NAME).{RELEASE}-kafka-headless.$(POD_NAMESPACE).svc"
    assert env["KAFKA_ADVERTISED_HOST"]["value"] == advertised
    assert list(env).index("POD_NAME") < list(env).index("KAFKA_ADVERTISED_HOST")  # $(...) needs order
    assert {k: env[k]["value"] for k in ("KAFKA_NODE_ID", "KAFKA_PORT", "KAFKA_CONTROLLER_PORT")} == {
        "KAFKA_NODE_ID": "0", "KAFKA_PORT": "9092", "KAFKA_CONTROLLER_PORT": "9093"}
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
    sts = _one(docs, "StatefulSet", f"{RELEASE}-kafka")
    (kafka,) = sts["spec"]["template"]["spec"]["containers"]
    assert kafka["image"] == "registry.example/kafka:4.2.1-1"
    assert kafka["imagePullPolicy"] == "Never"
    assert kafka["resources"]["requests"]["cpu"] == "50m"
    env = _env(kafka)
    assert env["KAFKA_TOPICS"]["value"] == "ev:3:1 dl:3:1"
    assert env["KAFKA_HEAP_OPTS"]["value"] == "-Xmx256m"
    assert "KAFKA_EXTRA_CONFIG" not in env
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == "fast"
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    api = _env(_api(docs)["containers"][0])
    assert api["SMARTWATCH_EVENTS_TOPIC"]["value"] == "ev"
    assert api["SMARTWATCH_DEAD_LETTER_TOPIC"]["value"] == "dl"


# --- external ----------------------------------------------------------------------------------

def test_external_plaintext_kafka_has_no_login() -> None:
    docs = render(CASES["external-kafka"])
    for env in (_env(_api(docs)["containers"][0]), _env(_landing(docs)["driver"])):
        assert env["SMARTWATCH_KAFKA_SECURITY_PROTOCOL"]["value"] == "PLAINTEXT"
        assert not {"SMARTWATCH_KAFKA_SASL_MECHANISM", "SMARTWATCH_KAFKA_SASL_USERNAME",
                    "SMARTWATCH_KAFKA_SASL_PASSWORD", "SMARTWATCH_KAFKA_SSL_CA_FILE"} & set(env)
    assert "secrets" not in _landing(docs)["driver"]


def test_external_sasl_ssl_kafka_logs_in_from_the_secret_and_trusts_its_ca() -> None:
    docs = render(SASL_SSL)
    api = _api(docs)
    container = api["containers"][0]
    env = _env(container)
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
        role_env = _env(landing[role])
        for name in ("SMARTWATCH_KAFKA_SECURITY_PROTOCOL", "SMARTWATCH_KAFKA_SASL_MECHANISM",
                     "SMARTWATCH_KAFKA_SASL_USERNAME", "SMARTWATCH_KAFKA_SASL_PASSWORD",
                     "SMARTWATCH_KAFKA_SSL_CA_FILE"):
            assert role_env[name] == env[name], (role, name)
        assert landing[role]["secrets"] == [{"name": "kafka-login", "path": posixpath.dirname(ca_file),
                                             "secretType": "Generic"}]
    # The Kafka UI logs in the same way.
    ui = _one(docs, "Deployment", f"{RELEASE}-kafka-ui")["spec"]["template"]["spec"]
    ui_env = _env(ui["containers"][0])
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
    env = _env(_api(docs)["containers"][0])
    assert env["SMARTWATCH_KAFKA_SASL_USERNAME"]["valueFrom"]["secretKeyRef"]["key"] == "user"
    assert env["SMARTWATCH_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "pw"
    assert env["SMARTWATCH_KAFKA_SSL_CA_FILE"]["value"].endswith("/tls.ca")
    ui = _env(_one(docs, "Deployment", f"{RELEASE}-kafka-ui")["spec"]["template"]["spec"]["containers"][0])
    assert ui["KAFKA_CLUSTERS_0_PROPERTIES_SASL_JAAS_CONFIG"]["value"].startswith(
        "org.apache.kafka.common.security.plain.PlainLoginModule required ")


@pytest.mark.parametrize("options", [
    sets("kafka.external.caKey="),  # trust the image's CA bundle
    sets("kafka.external.securityProtocol=SASL_PLAINTEXT"),  # no TLS
])
def test_external_kafka_without_a_ca_file(options: list[str]) -> None:
    docs = render([*SASL_SSL, *options])
    api = _api(docs)
    assert "SMARTWATCH_KAFKA_SSL_CA_FILE" not in _env(api["containers"][0])
    assert "kafka-ca" not in {v["name"] for v in api["volumes"]}
    assert "secrets" not in _landing(docs)["driver"]
    assert "SMARTWATCH_KAFKA_SASL_PASSWORD" in _env(api["containers"][0])


def test_external_ssl_kafka_needs_no_login() -> None:
    env = _env(_api(render(CASES["external-kafka-ssl"]))["containers"][0])
    assert env["SMARTWATCH_KAFKA_SECURITY_PROTOCOL"]["value"] == "SSL"
    assert env["SMARTWATCH_KAFKA_SSL_CA_FILE"]["value"].endswith("/ca.crt")
    assert "SMARTWATCH_KAFKA_SASL_USERNAME" not in env and "SMARTWATCH_KAFKA_SASL_MECHANISM" not in env


def test_no_kafka_credential_is_ever_a_literal() -> None:
    for case in ("external-kafka-sasl-ssl", "external-kafka-ssl"):
        for doc in render(CASES[case]):
            for where in _containers(doc):
                for name, entry in _env(where).items():
                    if "SASL_USERNAME" in name or "SASL_PASSWORD" in name:
                        assert "value" not in entry and "secretKeyRef" in entry["valueFrom"], (case, name)


def _containers(doc: dict) -> list[dict]:
    if doc["kind"] == "SparkApplication":
        return [doc["spec"]["driver"], doc["spec"]["executor"]]
    if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
        spec = doc["spec"]["template"]["spec"]
        return [*spec.get("initContainers", []), *spec["containers"]]
    return []
