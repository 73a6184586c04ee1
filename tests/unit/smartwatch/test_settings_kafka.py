"""The Kafka security settings: what the API's client and Spark's Kafka source are given."""

import ssl

import pytest
from pydantic import ValidationError

from smartwatch.settings import Settings

pytestmark = pytest.mark.unit


def test_plaintext_by_default() -> None:
    s = Settings()
    assert s.kafka_client_options() == {"security_protocol": "PLAINTEXT"}
    assert s.kafka_spark_options() == {"kafka.security.protocol": "PLAINTEXT"}


def test_sasl_needs_mechanism_user_and_password() -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="u")
    text = str(raised.value)
    assert "SMARTWATCH_KAFKA_SASL_MECHANISM" in text and "SMARTWATCH_KAFKA_SASL_PASSWORD" in text
    assert "SMARTWATCH_KAFKA_SASL_USERNAME" not in text


def test_an_unknown_protocol_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="kafka_security_protocol"):
        Settings(kafka_security_protocol="TLS")


def test_sasl_ssl_options(tmp_path) -> None:
    s = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512",
                 kafka_sasl_username='ann"x', kafka_sasl_password="p\\w")
    client = s.kafka_client_options()
    assert client["security_protocol"] == "SASL_SSL"
    assert isinstance(client["ssl_context"], ssl.SSLContext)
    assert (client["sasl_mechanism"], client["sasl_plain_username"],
            client["sasl_plain_password"]) == ("SCRAM-SHA-512", 'ann"x', "p\\w")
    spark = s.kafka_spark_options()
    assert spark["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    # JAAS quoting: a quote and a backslash escaped with a backslash.
    assert spark["kafka.sasl.jaas.config"] == (
        'org.apache.kafka.common.security.scram.ScramLoginModule required '
        'username="ann\\"x" password="p\\\\w";')
    assert "kafka.ssl.truststore.location" not in spark  # the JVM's own CAs


def test_a_ca_file_becomes_a_pem_truststore(tmp_path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("")
    s = Settings(kafka_security_protocol="SSL", kafka_ssl_ca_file=ca)
    assert s.kafka_spark_options() == {"kafka.security.protocol": "SSL",
                                       "kafka.ssl.truststore.type": "PEM",
                                       "kafka.ssl.truststore.location": str(ca)}


def test_plain_mechanism_uses_the_plain_login_module() -> None:
    s = Settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="PLAIN",
                 kafka_sasl_username="u", kafka_sasl_password="p")
    assert s.kafka_spark_options()["kafka.sasl.jaas.config"].startswith(
        "org.apache.kafka.common.security.plain.PlainLoginModule required ")
    assert "ssl_context" not in s.kafka_client_options()


def test_a_kubernetes_service_link_is_not_the_api_port(monkeypatch) -> None:
    monkeypatch.setenv("SMARTWATCH_API_PORT", "tcp://10.96.148.166:8000")
    assert Settings().api_port == 8000
    monkeypatch.setenv("SMARTWATCH_API_PORT", "9000")
    assert Settings().api_port == 9000
    monkeypatch.setenv("SMARTWATCH_API_PORT", "http://x:1")
    with pytest.raises(ValidationError, match="api_port"):
        Settings()
