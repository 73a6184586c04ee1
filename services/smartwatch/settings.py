"""The pipeline's settings: one object, read from SMARTWATCH_* environment variables."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTWATCH_", extra="ignore")

    kafka_bootstrap: str | None = Field(
        None, description="An existing Kafka (host:port,...); the local stack then starts none.")
    postgres_dsn: str | None = Field(
        None, description="An existing Postgres (libpq URI); the local stack then starts none.")
    kubeconfig: Path | None = Field(
        None, description="An existing cluster's kubeconfig; the local stack then starts no "
                          "kube-apiserver.")
    events_topic: str = "smartwatch.events"
    dead_letter_topic: str = "smartwatch.events.dlq"
    topic_partitions: int = Field(6, ge=1)

    # --- ingest API ---
    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=0, le=65535)
    api_workers: int = Field(1, ge=1, description="uvicorn worker processes of the API.")
    api_auth: bool = Field(True, description="Require device tokens (turn off only for local demos).")
    admin_token: SecretStr | None = Field(None, description="Bearer token of the admin endpoints.")
    admin_token_file: Path | None = Field(None, description="File holding the admin token.")
    max_batch_events: int = Field(10_000, ge=1)
    max_body_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    max_past_days: int = Field(3650, ge=1, description="Oldest accepted reading, in days.")
    max_future_hours: float = Field(24, ge=0, description="Newest accepted reading, in hours ahead.")
    produce_timeout_seconds: float = Field(10, gt=0, description="Bound on Kafka's acknowledgement;"
                                                                  " past it the API answers 503.")
    retry_after_seconds: int = Field(5, ge=1)
    max_in_flight: int = Field(64, ge=1, description="Ingest requests one API worker handles at "
                               "once; beyond it the API answers 429 with Retry-After: 1.")
    kafka_linger_ms: int = Field(0, ge=0, description="How long the producer waits to fill a "
                                 "batch; a request's events already go as one batch a partition.")
    kafka_compression: str = Field("lz4", pattern="^(none|gzip|lz4|snappy|zstd)$")
    # How the API and the landing job reach a Kafka that wants TLS or SASL (kafka.mode:
    # external in the chart); the local stack and the embedded Kafka speak PLAINTEXT.
    kafka_security_protocol: str = Field(
        "PLAINTEXT", pattern="^(PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL)$",
        description="Kafka's security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL).")
    kafka_sasl_mechanism: str | None = Field(
        None, pattern="^(PLAIN|SCRAM-SHA-256|SCRAM-SHA-512)$",
        description="SASL mechanism of the SASL_* protocols.")
    kafka_sasl_username: str | None = Field(None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password.")
    kafka_ssl_ca_file: Path | None = Field(None, description="PEM file of the CAs that sign the "
                                           "brokers' certificates (SSL, SASL_SSL); default: the "
                                           "system's.")

    # --- Spark jobs ---
    spark_master: str = Field("local[*]", description="Spark master when none is given by "
                                                      "spark-submit (local runs).")
    spark_driver_memory: str = Field("4g", pattern=r"^[0-9]+[kmgt]?$", description="Heap of the "
                                     "driver of local runs, which also runs their tasks (under "
                                     "spark-submit the submitter sets it).")
    spark_jars: Annotated[list[Path], NoDecode] = Field(
        default_factory=list, description="Jars of local Spark sessions (spark.jars; comma-"
        "separated in the environment): Spark's Kafka connector and the Postgres driver. Under "
        "spark-submit its own configuration and the image's jars apply.")
    spark_java_home: Path | None = Field(None, description="The Java local Spark sessions start "
                                         "(JAVA_HOME of their JVM); default: this process's own.")
    spark_aot_cache: Path | None = Field(None, description="An ahead-of-time cache (Java 25 or "
                                         "newer) local Spark sessions start from, if it exists.")
    lake_uri: str | None = Field(None, description="Parquet lake (file://, s3a://, hdfs://); "
                                                   "default: the local stack's lake folder.")
    quarantine_uri: str | None = Field(None, description="Quarantine dataset; default: beside "
                                                         "the lake.")
    checkpoint_uri: str | None = Field(None, description="Landing job checkpoint; default: in "
                                                         "the local stack's state folder.")
    landing_trigger_seconds: float = Field(5, gt=0, description="Micro-batch interval of the "
                                                                "continuous landing job.")
    landing_max_offsets_per_trigger: int = Field(
        2_000_000, ge=1, description="Most Kafka records a landing micro-batch (a backlog is "
                                     "landed in batches of this size).")
    landing_shuffle_partitions: int = Field(4, ge=1)
    landing_max_record_bytes: int = Field(1024 * 1024, ge=1024, description="Larger Kafka "
                                          "records go to quarantine.")
    landing_metrics_port: int = Field(0, ge=0, le=65535, description="Port of the continuous "
                                      "landing's /metrics (its lag per partition); 0: none.")
    landing_lag_interval_seconds: float = Field(15, gt=0, description="How often the "
                                                "continuous landing measures its lag.")

    @field_validator("api_port", mode="before")
    @classmethod
    def _not_a_service_link(cls, value: object) -> object:
        """`tcp://HOST:PORT` is what Kubernetes puts in SMARTWATCH_API_PORT of every pod of a
        namespace with a Service named `smartwatch-api` (service links, on by default, as in
        pods that spark-operator makes): another Service's address, not a port to listen on.
        It is ignored; any other value must be a port."""
        if isinstance(value, str) and re.fullmatch(r"tcp://[^/:]+:\d+", value):
            raise PydanticUseDefault
        return value

    @field_validator("spark_jars", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _kafka_sasl_complete(self) -> Settings:
        if self.kafka_security_protocol.startswith("SASL_"):
            missing = [f"SMARTWATCH_{name.upper()}" for name in
                       ("kafka_sasl_mechanism", "kafka_sasl_username", "kafka_sasl_password")
                       if getattr(self, name) is None]
            if missing:
                raise ValueError(f"SMARTWATCH_KAFKA_SECURITY_PROTOCOL="
                                 f"{self.kafka_security_protocol} needs {', '.join(missing)}")
        return self

    def kafka_client_options(self) -> dict[str, object]:
        """The security options of an aiokafka client."""
        options: dict[str, object] = {"security_protocol": self.kafka_security_protocol}
        if self.kafka_security_protocol.endswith("SSL"):
            import ssl

            options["ssl_context"] = ssl.create_default_context(
                cafile=str(self.kafka_ssl_ca_file) if self.kafka_ssl_ca_file else None)
        if self.kafka_security_protocol.startswith("SASL_"):
            assert self.kafka_sasl_password is not None
            options.update(sasl_mechanism=self.kafka_sasl_mechanism,
                           sasl_plain_username=self.kafka_sasl_username,
                           sasl_plain_password=self.kafka_sasl_password.get_secret_value())
        return options

    def kafka_spark_options(self) -> dict[str, str]:
        """The same, as options of Spark's Kafka source (`kafka.`-prefixed client settings)."""
        options = {"kafka.security.protocol": self.kafka_security_protocol}
        if self.kafka_security_protocol.endswith("SSL") and self.kafka_ssl_ca_file:
            options["kafka.ssl.truststore.type"] = "PEM"
            options["kafka.ssl.truststore.location"] = str(self.kafka_ssl_ca_file)
        if self.kafka_security_protocol.startswith("SASL_"):
            assert self.kafka_sasl_password is not None and self.kafka_sasl_username is not None
            module = ("org.apache.kafka.common.security.plain.PlainLoginModule"
                      if self.kafka_sasl_mechanism == "PLAIN" else
                      "org.apache.kafka.common.security.scram.ScramLoginModule")

            def quoted(text: str) -> str:
                return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

            options["kafka.sasl.mechanism"] = str(self.kafka_sasl_mechanism)
            options["kafka.sasl.jaas.config"] = (
                f"{module} required username={quoted(self.kafka_sasl_username)} "
                f"password={quoted(self.kafka_sasl_password.get_secret_value())};")
        return options

    def admin_secret(self) -> str | None:
        if self.admin_token is not None:
            return self.admin_token.get_secret_value()
        if self.admin_token_file is not None and self.admin_token_file.exists():
            return self.admin_token_file.read_text().strip() or None
        return None


@functools.cache
def get_settings() -> Settings:
    return Settings()


def invalid_settings(exc: Exception) -> str:
    """A settings validation error (pydantic's ValidationError) as one line naming each bad
    SMARTWATCH_* variable."""
    parts = []
    for error in exc.errors():  # type: ignore[attr-defined]
        name = "SMARTWATCH_" + "_".join(str(p) for p in error["loc"]).upper() if error["loc"] else ""
        shown = repr(error["input"])[:80] if error["loc"] else ""
        parts.append(f"{name} {error['msg'][0].lower()}{error['msg'][1:]}"
                     + (f" (got {shown})" if shown else "") if name
                     else error["msg"].removeprefix("Value error, "))
    return "invalid settings: " + "; ".join(parts)
