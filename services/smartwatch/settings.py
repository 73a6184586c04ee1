"""The pipeline's settings: one object, read from SMARTWATCH_* environment variables."""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartwatch.toolchain import REPO_ROOT


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTWATCH_", extra="ignore")

    state_dir: Path = Field(REPO_ROOT / ".stack" / "dev",
                            description="Folder holding the local stack's data, logs and pids.")
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


@functools.cache
def get_settings() -> Settings:
    return Settings()
