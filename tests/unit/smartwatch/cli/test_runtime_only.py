"""The CLI where only the runtime is installed (an image: no smartwatch_dev): a command that
needs a setting names it, and a dev command says it needs the dev tooling."""

from __future__ import annotations

import sys

import pytest

from smartwatch.cli import local, main
from smartwatch.settings import Settings

pytestmark = pytest.mark.unit


@pytest.fixture
def runtime_only(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "smartwatch_dev" or m.startswith("smartwatch_dev.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "smartwatch_dev", None)  # import raises ModuleNotFoundError


def test_missing_settings_are_not_looked_up_in_a_stack(runtime_only: None) -> None:
    settings = local.settings_for(("postgres_dsn",), None, Settings(postgres_dsn=None))
    assert settings.postgres_dsn is None  # nothing taken, no error: the command names it


def test_a_dev_command_exits_2_saying_what_it_needs(runtime_only: None, capsys) -> None:
    assert main(["stack", "status", "--state-dir", "S"]) == 2
    assert capsys.readouterr().err.strip() == (
        "smartwatch stack: needs the dev tooling (smartwatch_dev), which only a checkout holds "
        "(make setup); this installation has the runtime alone")
