"""The pipeline's settings: one object, read from SMARTWATCH_* environment variables."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
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
    kafka_linger_ms: int = Field(0, ge=0, description="How long the producer waits to fill a "
                                 "batch; a request's events already go as one batch a partition.")
    kafka_compression: str = Field("lz4", pattern="^(none|gzip|lz4|snappy|zstd)$")

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
    landing_dedup_watermark: str = Field("2 hours", description="How long after a reading a "
                                         "repeat of its event_id is still dropped by landing.")
    landing_max_record_bytes: int = Field(1024 * 1024, ge=1024, description="Larger Kafka "
                                          "records go to quarantine.")

    @field_validator("spark_jars", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def admin_secret(self) -> str | None:
        if self.admin_token is not None:
            return self.admin_token.get_secret_value()
        if self.admin_token_file is not None and self.admin_token_file.exists():
            return self.admin_token_file.read_text().strip() or None
        return None


@functools.cache
def get_settings() -> Settings:
    return Settings()
