"""Stack discovery (smartwatch.cli.local): settings the environment gives are never looked up
in the local stack; missing ones are, in one line on stderr; `db migrate` never is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from smartwatch.cli import local, main
from smartwatch.cli.api import NEEDS as API
from smartwatch.settings import Settings, get_settings
from smartwatch_jobs.commands import AGGREGATE as AGGREGATE_JOB
from smartwatch_jobs.commands import LAND as LAND_JOB

LAND, AGGREGATE = LAND_JOB.needs, AGGREGATE_JOB.needs

pytestmark = pytest.mark.unit

POD = {"SMARTWATCH_KAFKA_BOOTSTRAP": "kafka.example:9092",
       "SMARTWATCH_POSTGRES_DSN": "postgresql://u:p@db.example:5432/sw",
       "SMARTWATCH_LAKE_URI": "s3a://lake/events", "SMARTWATCH_QUARANTINE_URI": "s3a://lake/q",
       "SMARTWATCH_CHECKPOINT_URI": "s3a://lake/checkpoint",
       "SMARTWATCH_ADMIN_TOKEN_FILE": "/var/run/secrets/admin"}
STACK = {"state_dir": "/st", "kafka_bootstrap": "127.0.0.1:1", "postgres_dsn": "postgresql://l",
         "api_admin_token_file": "/st/api/admin-token", "lake_uri": "file:///st/lake",
         "quarantine_uri": "file:///st/quarantine", "checkpoint_uri": "file:///st/cp",
         "api_url": "http://127.0.0.1:2", "kubeconfig": "/st/kubeconfig"}


@pytest.fixture
def env(monkeypatch, tmp_path):
    """An environment with no SMARTWATCH_* setting but a state folder that does not exist."""
    for name in list(os.environ):
        if name.startswith("SMARTWATCH_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SMARTWATCH_STATE_DIR", str(tmp_path / "no-stack"))
    get_settings.cache_clear()

    def given(values: dict[str, str]) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
    yield given
    get_settings.cache_clear()
    assert not (tmp_path / "no-stack").exists()


@pytest.fixture
def stack(monkeypatch):
    """The local stack, faked: `asked` counts its consultations."""
    asked: list[str | None] = []

    def status(settings, state_dir):
        asked.append(state_dir)
        return STACK
    monkeypatch.setattr(local, "stack_status", status)
    return asked


@pytest.mark.parametrize("needs", [LAND, AGGREGATE, API])
def test_a_pod_with_every_setting_never_consults_the_stack(env, stack, needs, capsys) -> None:
    env(POD)
    settings = local.settings_for(needs, None)
    assert stack == [] and capsys.readouterr().err == ""
    assert (settings.postgres_dsn, settings.admin_token_file) == (
        POD["SMARTWATCH_POSTGRES_DSN"], Path(POD["SMARTWATCH_ADMIN_TOKEN_FILE"]))


def test_missing_settings_come_from_the_stack_in_one_line(env, stack, capsys) -> None:
    env({"SMARTWATCH_POSTGRES_DSN": POD["SMARTWATCH_POSTGRES_DSN"]})
    settings = local.settings_for(LAND, "S")
    assert stack == ["S"]
    # Given ones are kept; only missing ones are filled.
    assert settings.postgres_dsn == POD["SMARTWATCH_POSTGRES_DSN"]
    assert (settings.kafka_bootstrap, settings.lake_uri) == ("127.0.0.1:1", "file:///st/lake")
    assert capsys.readouterr().err.splitlines() == [
        "smartwatch: from the local stack in /st: SMARTWATCH_KAFKA_BOOTSTRAP, "
        "SMARTWATCH_LAKE_URI, SMARTWATCH_QUARANTINE_URI, SMARTWATCH_CHECKPOINT_URI"]


def test_the_api_takes_the_stacks_admin_token_only_when_none_is_given(env, stack) -> None:
    env({k: POD[k] for k in ("SMARTWATCH_KAFKA_BOOTSTRAP", "SMARTWATCH_POSTGRES_DSN")})
    assert local.settings_for(API, None).admin_token_file == Path("/st/api/admin-token")
    env({"SMARTWATCH_ADMIN_TOKEN": "secret"})
    stack.clear()
    assert local.settings_for(API, None).admin_token_file is None and stack == []


def test_db_migrate_needs_the_dsn_and_never_asks_the_stack(env, stack, capsys) -> None:
    assert main(["db", "migrate"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "smartwatch db migrate: SMARTWATCH_POSTGRES_DSN is not set"]
    assert stack == []


def test_the_simulators_api_comes_from_the_stack_only_when_not_given(env, stack, capsys,
                                                                     tmp_path, monkeypatch) -> None:
    assert local.api_target(None, "http://api", "tok", need_token=True) == ("http://api", "tok")
    assert local.api_target(None, "http://api", None, need_token=False) == ("http://api", None)
    assert stack == [] and capsys.readouterr().err == ""
    token = tmp_path / "admin-token"
    token.write_text("from-file\n")
    status = {**STACK, "api_admin_token_file": str(token)}
    monkeypatch.setattr(local, "stack_status", lambda settings, state_dir: status)
    assert local.api_target(None, None, None, need_token=True) == ("http://127.0.0.1:2",
                                                                    "from-file")
    assert capsys.readouterr().err.splitlines() == [
        "smartwatch: from the local stack in /st: the API URL, the admin token"]


def test_the_operators_kubeconfig(env, stack, capsys) -> None:
    assert local.kubeconfig(Path("/k"), None) == Path("/k") and stack == []
    assert local.kubeconfig(None, None) == Path("/st/kubeconfig") and stack == [None]
    assert "SMARTWATCH_KUBECONFIG" in capsys.readouterr().err


def test_spark_settings_come_from_the_set_up_cache_unless_given(monkeypatch) -> None:
    from smartwatch_dev import toolchain
    from smartwatch_jobs import spark

    monkeypatch.setattr(toolchain, "spark_jars", lambda: [Path("/cache/kafka.jar")])
    monkeypatch.setattr(toolchain, "spark_java_home", lambda: Path("/jvm/25"))
    monkeypatch.setattr(toolchain, "spark_aot_cache", lambda home: home / "spark.aot")
    monkeypatch.setattr(spark, "submitted", lambda: False)
    monkeypatch.delenv("SPARK_HOME", raising=False)
    filled = local.spark_settings(Settings(spark_jars=[], spark_java_home=None,
                                           spark_aot_cache=None))
    assert (filled.spark_jars, filled.spark_java_home, filled.spark_aot_cache) == (
        [Path("/cache/kafka.jar")], Path("/jvm/25"), Path("/jvm/25/spark.aot"))
    # A given Java keeps its own cache; given jars are kept.
    given = local.spark_settings(Settings(spark_jars=[Path("/mine.jar")],
                                          spark_java_home=Path("/jvm/21"), spark_aot_cache=None))
    assert (given.spark_jars, given.spark_java_home, given.spark_aot_cache) == (
        [Path("/mine.jar")], Path("/jvm/21"), Path("/jvm/21/spark.aot"))
    # Under spark-submit the cache is never asked (the image has none).
    monkeypatch.setattr(spark, "submitted", lambda: True)
    monkeypatch.setattr(toolchain, "spark_jars", lambda: pytest.fail("the cache was asked"))
    assert local.spark_settings(Settings(spark_jars=[])).spark_jars == []
    # Nor where SPARK_HOME names the Spark to use (the image's, with its jars and Java).
    monkeypatch.setattr(spark, "submitted", lambda: False)
    monkeypatch.setenv("SPARK_HOME", "/opt/spark")
    assert local.spark_settings(Settings(spark_jars=[], spark_java_home=None)) == Settings(
        spark_jars=[], spark_java_home=None)


def test_a_folder_where_no_stack_ever_ran_gives_nothing(tmp_path, capsys) -> None:
    """No record of a stack: no lake, quarantine or checkpoint paths invented under it."""
    from smartwatch.settings import Settings

    given = Settings(kafka_bootstrap=None, postgres_dsn=None, lake_uri=None, checkpoint_uri=None)
    got = local.settings_for(("lake_uri", "checkpoint_uri", "kafka_bootstrap"), str(tmp_path / "none"),
                             given)
    assert (got.lake_uri, got.checkpoint_uri, got.kafka_bootstrap) == (None, None, None)
    assert capsys.readouterr().err == ""
