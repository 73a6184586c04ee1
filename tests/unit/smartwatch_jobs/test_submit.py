"""The pod entrypoint's termination message: a failed command leaves its error line where
Kubernetes reads a container's termination message."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartwatch_jobs import submit

pytestmark = pytest.mark.unit


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "termination-log"
    path.write_text("")
    monkeypatch.setattr(submit, "TERMINATION_LOG", path)
    return path


def test_a_refused_window_leaves_its_error_line(log: Path) -> None:
    code = submit.main(["aggregate", "--granularity", "daily", "--from", "2026-02-01",
                        "--to", "2026-01-01"])
    assert code == 2
    assert log.read_text().startswith("smartwatch aggregate: ") and "is after" in log.read_text()


def test_a_usage_error_leaves_argparse_line(log: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        submit.main(["aggregate", "--granularity", "hourly"])
    assert exit_.value.code == 2
    assert "invalid choice: 'hourly'" in log.read_text()


def test_an_exit_0_and_a_host_without_the_file_leave_nothing(
        log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as exit_:
        submit.main(["aggregate", "--help"])
    assert exit_.value.code == 0 and log.read_text() == ""
    monkeypatch.setattr(submit, "TERMINATION_LOG", tmp_path / "absent")
    submit.terminate("x")
    assert not (tmp_path / "absent").exists()


def test_an_exception_leaves_its_type_and_text(log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from smartwatch_jobs import commands

    def boom(argv: list[str]) -> int:
        raise RuntimeError("the lake is gone")

    monkeypatch.setattr(commands, "main", boom)
    with pytest.raises(RuntimeError):
        submit.main(["aggregate"])
    assert log.read_text() == "RuntimeError: the lake is gone"
