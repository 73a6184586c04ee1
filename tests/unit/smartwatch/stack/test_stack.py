"""Pure logic of the stack manager and its command line."""

import argparse
import json

import pytest

from smartwatch.cli import main
from smartwatch.cli.options import components
from smartwatch_dev.stack.kafka import server_properties
from smartwatch_dev.stack.process import free_port, port_open

pytestmark = pytest.mark.unit


def test_components_are_validated() -> None:
    assert components("kafka, postgres") == ("kafka", "postgres")
    with pytest.raises(argparse.ArgumentTypeError, match="unknown component zookeeper"):
        components("kafka,zookeeper")


def test_free_port_is_free() -> None:
    assert not port_open("127.0.0.1", free_port())


def test_status_of_an_empty_state_folder(tmp_path, capsys) -> None:
    assert main(["stack", "status", "--json", "--state-dir", str(tmp_path)]) == 1
    status = json.loads(capsys.readouterr().out)
    assert [c["health"] for c in status["components"]] == ["stopped"] * 5
    assert status["kafka_bootstrap"] is None


def test_external_components_are_reported_not_started(tmp_path, capsys, monkeypatch) -> None:
    from smartwatch.settings import get_settings

    monkeypatch.setenv("SMARTWATCH_KAFKA_BOOTSTRAP", "kafka.example:9092")
    get_settings.cache_clear()
    try:
        main(["stack", "status", "--json", "--state-dir", str(tmp_path)])
    finally:
        get_settings.cache_clear()
    status = json.loads(capsys.readouterr().out)
    kafka = next(c for c in status["components"] if c["component"] == "kafka")
    assert kafka["health"] == "external"
    assert status["kafka_bootstrap"] == "kafka.example:9092"


def test_broker_listens_on_loopback_only(tmp_path) -> None:
    props = server_properties(tmp_path, 19092, 19093)
    listeners = next(line for line in props.splitlines() if line.startswith("listeners="))
    assert listeners == "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
