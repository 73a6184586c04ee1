"""The local SparkApplication runner's reading of a SparkApplication: which file runs and
with which environment (hand-written applications, no API server)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from smartwatch_dev.stack.sparkrunner import NotRunnable, driver_env, main_file

pytestmark = pytest.mark.unit


def app(**spec) -> dict:
    return {"metadata": {"name": "a", "namespace": "ns"}, "spec": {"type": "Python", **spec}}


def test_the_images_folder_is_the_checkout_and_other_local_files_are_taken_as_they_are(
        tmp_path: Path) -> None:
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "submit.py").write_text("")
    other = tmp_path / "other.py"
    other.write_text("")
    assert main_file(app(mainApplicationFile="local:///opt/smartwatch/jobs/submit.py"),
                     tmp_path) == tmp_path / "jobs" / "submit.py"
    assert main_file(app(mainApplicationFile=f"local://{other}"), tmp_path) == other
    assert main_file(app(mainApplicationFile=str(other)), tmp_path) == other


@pytest.mark.parametrize(("spec", "says"), [
    ({"mainApplicationFile": "s3a://bucket/job.py"}, "is not a local file"),
    ({"mainApplicationFile": "local:///opt/smartwatch/missing.py"}, "no file"),
    ({}, "spec.mainApplicationFile is missing"),
    ({"type": "Scala", "mainApplicationFile": "local:///x.jar"}, "only Python"),
])
def test_what_cannot_run_here_is_named(tmp_path: Path, spec: dict, says: str) -> None:
    with pytest.raises(NotRunnable, match=says):
        main_file(app(**spec), tmp_path)


def _driver(container_env: list[dict], **driver) -> dict:
    return app(driver={"template": {"spec": {"containers": [
        {"name": "spark-kubernetes-driver", "env": container_env},
        {"name": "sidecar", "env": [{"name": "NOT_MINE", "value": "x"}]}]}}, **driver})


def test_the_driver_gets_values_secrets_and_its_memory() -> None:
    secrets = {("ns", "pg"): {"dsn": base64.b64encode(b"postgresql://u:p@h/db").decode()}}
    env = driver_env(_driver([
        {"name": "PLAIN", "value": "1"},
        {"name": "DSN", "valueFrom": {"secretKeyRef": {"name": "pg", "key": "dsn"}}},
        {"name": "OPTIONAL", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k",
                                                            "optional": True}}},
    ], memory="2g", env=[{"name": "FROM_SPEC", "value": "y"}]),
        lambda ns, name: secrets.get((ns, name)))
    assert env == {"PLAIN": "1", "DSN": "postgresql://u:p@h/db", "FROM_SPEC": "y",
                   "SMARTWATCH_SPARK_DRIVER_MEMORY": "2g"}


@pytest.mark.parametrize(("secrets", "says"), [
    ({}, "env DSN: secret ns/pg not found"),
    ({("ns", "pg"): {"other": ""}}, "env DSN: secret ns/pg has no key 'dsn'"),
])
def test_a_missing_secret_or_key_is_named(secrets: dict, says: str) -> None:
    spec = _driver([{"name": "DSN", "valueFrom": {"secretKeyRef": {"name": "pg", "key": "dsn"}}}])
    with pytest.raises(NotRunnable, match=says):
        driver_env(spec, lambda ns, name: secrets.get((ns, name)))


def test_env_from_a_config_map_is_refused_by_name() -> None:
    spec = _driver([{"name": "C", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}])
    with pytest.raises(NotRunnable, match=r"env C: only value and valueFrom\.secretKeyRef"):
        driver_env(spec, lambda ns, name: None)
