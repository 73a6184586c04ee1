"""`smartwatch stack` leaves nothing running: after `down`, after Ctrl-C of a foreground `up`,
and after Ctrl-C while `up` is still starting things."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from smartwatch_dev.stack.process import leftovers
from smartwatch_dev.toolchain import REPO_ROOT

pytestmark = pytest.mark.integration


def _components() -> str:
    from tests.conftest import k8s_missing

    return "postgres,kafka" + ("" if k8s_missing() else ",kube-apiserver")


def _smartwatch(state: Path, *args: str, **kw) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items()
           if k not in ("SMARTWATCH_KAFKA_BOOTSTRAP", "SMARTWATCH_POSTGRES_DSN",
                        "SMARTWATCH_KUBECONFIG")}
    return subprocess.Popen([sys.executable, "-m", "smartwatch", "stack", *args,
                             "--state-dir", str(state)], env=env, text=True, **kw)


@pytest.fixture
def state():
    path = REPO_ROOT / ".stack" / f"lifecycle-{uuid.uuid4().hex[:8]}"
    yield path
    for pid, _ in leftovers(str(path)):  # never leave anything behind, even on failure
        os.kill(pid, signal.SIGKILL)
    from smartwatch.settings import Settings
    from smartwatch_dev.stack import Stack

    Stack(Settings(), path).purge()


def _wait_for_line(proc: subprocess.Popen, text: str, timeout: float = 240) -> list[str]:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return seen
    pytest.fail(f"{text!r} never printed; output: {''.join(seen)}")


def test_up_detach_then_down(state: Path) -> None:
    up = _smartwatch(state, "up", "--detach", "--only", _components(), stdout=subprocess.PIPE)
    out, _ = up.communicate(timeout=300)
    assert up.returncode == 0, out
    status = _smartwatch(state, "status", "--json", "--only", _components(),
                         stdout=subprocess.PIPE)
    report = json.loads(status.communicate(timeout=60)[0])
    assert status.returncode == 0
    healthy = {c["component"] for c in report["components"] if c["health"] == "ok"}
    assert set(_components().split(",")) <= healthy
    assert leftovers(str(state)), "the stack should be running now"
    down = _smartwatch(state, "down")
    assert down.wait(timeout=120) == 0
    assert leftovers(str(state)) == []


def test_ctrl_c_of_foreground_up_stops_everything(state: Path) -> None:
    up = _smartwatch(state, "up", "--only", _components(), stdout=subprocess.PIPE)
    _wait_for_line(up, "press Ctrl-C")
    up.send_signal(signal.SIGINT)
    up.communicate(timeout=120)
    assert up.returncode == 130
    assert leftovers(str(state)) == []


def test_ctrl_c_during_start_up_stops_what_was_started(state: Path) -> None:
    up = _smartwatch(state, "up", "--only", _components(), stdout=subprocess.PIPE)
    _wait_for_line(up, "postgres: up")  # Kafka is starting now
    up.send_signal(signal.SIGINT)
    up.communicate(timeout=120)
    assert up.returncode == 130
    assert leftovers(str(state)) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="only as root does Postgres run as another user")
def test_postgres_runs_when_the_state_folder_is_private(tmp_path) -> None:
    """A checkout under a private folder (0700, as a home folder): Postgres, which runs as the
    `postgres` user, gets its folder in the temporary directory, and purge removes it."""
    import psycopg2

    from smartwatch.settings import Settings
    from smartwatch_dev.stack import Stack

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    stack = Stack(Settings(kafka_bootstrap=None, postgres_dsn=None, kubeconfig=None),
                  private / "state")
    try:
        stack.up(only=("postgres",))
        moved = Path((private / "state" / "postgres" / "server-dir").read_text().strip())
        assert moved.is_dir()
        with psycopg2.connect(stack.status()["postgres_dsn"]) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
        assert stack.leftovers(), "leftovers must see the running server"
    finally:
        stack.purge()
    assert stack.leftovers() == [] and not moved.exists()
