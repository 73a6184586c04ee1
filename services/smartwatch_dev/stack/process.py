"""Starting, finding and stopping the processes of a local stack.

Every process the stack starts carries the stack's state folder in its command line (a data
folder, a config file), so `leftovers()` can find any that survived, whoever started them.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def load_record(path: Path) -> dict[str, Any]:
    """A JSON record of what runs ({} when there is none or it is unreadable)."""
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def save_record(path: Path, record: dict[str, Any]) -> None:
    """Write a record whole (readers never see half of one), readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2))
    tmp.chmod(0o600)
    os.replace(tmp, path)


def free_port() -> int:
    """A TCP port on the loopback address that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def reuse_port(previous: dict | None, key: str) -> int:
    """The port of the previous run when it is still free (data that remembers its address
    stays valid), otherwise a new free port."""
    old = (previous or {}).get(key)
    return int(old) if old and not port_open("127.0.0.1", int(old)) else free_port()


def unprivileged_user() -> str | None:
    """The user to run Postgres as: None for a normal caller, `postgres` for root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise RuntimeError(
            "running as root, and Postgres refuses root: create a `postgres` user "
            "(Debian's postgresql package does) or run as a normal user"
        ) from exc
    return "postgres"


def spawn(
    argv: Sequence[str | os.PathLike[str]],
    log: Path,
    *,
    env: dict[str, str] | None = None,
    user: str | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server in its own session (so a terminal's Ctrl-C reaches only us, and we stop
    it in order), with stdout and stderr appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        if user is not None:
            os.chown(log, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
        full_env = dict(os.environ if env is None else env)
        if user is not None:
            full_env["HOME"] = pwd.getpwnam(user).pw_dir
        return subprocess.Popen(
            [str(a) for a in argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
            user=user,
            group=pwd.getpwnam(user).pw_gid if user else None,
            extra_groups=[] if user else None,
        )


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def alive(pid: int, marker: str | None = None) -> bool:
    """Whether `pid` runs and (when given) its command line contains `marker`: a recycled pid
    of some other program does not count."""
    if pid <= 0:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":  # zombie: exited, not yet reaped
        _reap(pid)
        return False
    return marker is None or marker in cmdline(pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop(pid: int, marker: str | None, *, sig: int = signal.SIGTERM, grace: float = 20.0) -> None:
    """Send `sig`, wait up to `grace` seconds, then SIGKILL the process and its session."""
    if not alive(pid, marker):
        return
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(pid)
        if not alive(pid, marker):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    for _ in range(50):
        _reap(pid)
        if not alive(pid, marker):
            return
        time.sleep(0.1)


def leftovers(marker: str) -> list[tuple[int, str]]:
    """Processes (pid, command line) whose command line mentions `marker`, other than us."""
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != me:
            line = cmdline(int(entry.name))
            if marker in line and alive(int(entry.name)):
                found.append((int(entry.name), line))
    return found


def wait_until(check, timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None,
               log: Path | None = None) -> None:
    """Poll `check()` until it is true; fail early if `proc` exits, naming its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited with code {proc.returncode}; log {log}:\n{tail}")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s; log: {log}")
