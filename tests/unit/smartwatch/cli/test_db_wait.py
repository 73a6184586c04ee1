"""`smartwatch db migrate --wait`: how long it waits for Postgres and what it says, with the
connection check replaced by a scripted one."""

from __future__ import annotations

import pytest

import smartwatch.registry
from smartwatch.cli.db import wait_for_postgres

pytestmark = pytest.mark.unit


def scripted(monkeypatch: pytest.MonkeyPatch, answers: list[str | None]) -> list[int]:
    """connect_check failing with each message of `answers` in turn (None: it connects)."""
    calls = [0]

    def check(dsn: str) -> None:
        answer = answers[min(calls[0], len(answers) - 1)]
        calls[0] += 1
        if answer is not None:
            raise RuntimeError(answer)

    monkeypatch.setattr(smartwatch.registry, "connect_check", check)
    return calls


NO_NAME = "Postgres is not reachable: could not translate host name \"pg\" to address"


def test_it_waits_through_failures_saying_each_reason_once(monkeypatch, capsys) -> None:
    calls = scripted(monkeypatch, [NO_NAME, NO_NAME, "Postgres is not reachable: refused", None])
    wait_for_postgres("postgresql://x", 10, every=0.01)
    assert calls[0] == 4
    assert capsys.readouterr().err.splitlines() == [
        f"smartwatch db migrate: waiting for Postgres: {NO_NAME}",
        "smartwatch db migrate: waiting for Postgres: Postgres is not reachable: refused"]


def test_after_the_wait_the_last_failure_is_raised(monkeypatch) -> None:
    calls = scripted(monkeypatch, [NO_NAME])
    with pytest.raises(RuntimeError, match=r"translate host name .* \(after waiting 0.1 s\)"):
        wait_for_postgres("postgresql://x", 0.1, every=0.01)
    assert calls[0] > 2


def test_no_wait_is_one_try(monkeypatch, capsys) -> None:
    calls = scripted(monkeypatch, [NO_NAME])
    with pytest.raises(RuntimeError) as raised:
        wait_for_postgres("postgresql://x", 0)
    assert str(raised.value) == NO_NAME and calls[0] == 1 and capsys.readouterr().err == ""


@pytest.mark.parametrize("message", [
    'Postgres is not reachable: FATAL:  password authentication failed for user "smartwatch"',
    'Postgres is not reachable: FATAL:  database "smartwatch" does not exist'])
def test_refused_credentials_or_a_missing_database_fail_at_once(monkeypatch, message) -> None:
    calls = scripted(monkeypatch, [message])
    with pytest.raises(RuntimeError, match="Postgres is not reachable"):
        wait_for_postgres("postgresql://x", 60, every=0.01)
    assert calls[0] == 1
