"""A Docker engine for the kind cluster and the image builds: the one the environment already
reaches, or a private `dockerd` this module starts and stops.

A private engine keeps its images and containers in `root` (inside a checkout's state folder,
or the set-up cache's build folder) and its sockets and runtime state in a short folder under
the temporary directory named after `root` (a Unix socket path has a length limit). It runs
with no default bridge and without touching the host's iptables: kind makes its own network,
and image builds that need Debian's packages use the host's network.

`python -m smartwatch_dev.stack.engine run --root DIR -- CMD...` runs CMD with DOCKER_HOST set to
an engine: the reachable one, or a private one started for CMD and stopped after it.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from smartwatch_dev.stack.process import alive, leftovers, spawn, stop, wait_until

CAP_SYS_RESOURCE = 24


def docker_env(host: str | None) -> dict[str, str]:
    """The environment of a docker CLI that talks to `host` (None: the environment's own) and
    builds with the classic builder (no buildx plugin needed)."""
    env = dict(os.environ)
    if host:
        env["DOCKER_HOST"] = host
    env.setdefault("DOCKER_BUILDKIT", "0")
    return env


def answers(host: str | None, timeout: float = 10.0) -> bool:
    """Whether a Docker engine answers at `host` (None: DOCKER_HOST or the default socket)."""
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                              env=docker_env(host), capture_output=True,
                              timeout=timeout).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def host_lacks_sys_resource() -> bool:
    """Whether this process's capability bounding set lacks CAP_SYS_RESOURCE, so that an
    engine started from here cannot run a container with --privileged."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            return not (int(line.split()[1], 16) >> CAP_SYS_RESOURCE) & 1
    return False


class PrivateEngine:
    """A dockerd whose data lives in `root`; start() and stop() are idempotent."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:10]
        self.run_dir = Path(tempfile.gettempdir()) / f"smartwatch-docker-{digest}"
        self.socket = self.run_dir / "docker.sock"
        self.host = f"unix://{self.socket}"
        self.pidfile = self.run_dir / "docker.pid"
        self.log = self.root / "dockerd.log"

    def pid(self) -> int:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return 0

    def running(self) -> bool:
        return alive(self.pid(), str(self.root))

    def start(self, report=lambda line: None) -> None:
        if self.running() and answers(self.host):
            return
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise RuntimeError("no Docker engine answers and dockerd is not installed: "
                               "run `make setup` as root (it installs Debian's docker.io), "
                               "or set DOCKER_HOST to an engine")
        if os.geteuid() != 0:
            raise RuntimeError("no Docker engine answers, and a private one needs root: "
                               "set DOCKER_HOST to an engine or run as root")
        self.cleanup()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        proc = spawn([dockerd, "--data-root", self.root / "data", "--exec-root", self.run_dir / "exec",
                      "--pidfile", self.pidfile, "-H", self.host, "--bridge=none",
                      "--iptables=false", "--ip6tables=false", "--ip-masq=false",
                      "--userland-proxy=true", "--log-level=warn"], self.log)
        wait_until(lambda: answers(self.host, timeout=5), 60, "dockerd", proc, self.log)
        report(f"docker engine: started (pid {proc.pid}, data {self.root / 'data'})")

    def stop(self, report=lambda line: None) -> None:
        pid = self.pid()
        if alive(pid, str(self.root)):
            stop(pid, str(self.root), grace=30)
            report(f"docker engine: stopped (pid {pid})")
        self.cleanup()

    def cleanup(self) -> None:
        """Whatever a stopped engine leaves: its containerd, its mounts, its runtime folder."""
        for pid, _ in leftovers(str(self.run_dir)):
            stop(pid, str(self.run_dir), grace=10)
        for target in self.mounts():
            subprocess.run(["umount", "-l", target], capture_output=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def mounts(self) -> list[str]:
        """Mount points under the engine's folders, deepest first."""
        roots = (str(self.root) + "/", str(self.run_dir) + "/")
        found = []
        with contextlib.suppress(OSError):
            for line in Path("/proc/self/mountinfo").read_text().splitlines():
                target = line.split()[4].replace("\\040", " ")
                if target.startswith(roots):
                    found.append(target)
        return sorted(set(found), key=len, reverse=True)

    def leftovers(self) -> list[str]:
        out = [f"{pid} {line}" for pid, line in leftovers(str(self.root)) + leftovers(str(self.run_dir))]
        out += [f"mount {m}" for m in self.mounts()]
        return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m smartwatch_dev.stack.engine")
    parser.add_argument("action", choices=["run"])
    parser.add_argument("--root", required=True, type=Path,
                        help="data folder of a private engine, when none answers already")
    parser.add_argument("--remove", action="store_true",
                        help="delete a private engine's data once CMD is done")
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        parser.error("give the command after --")
    split = argv.index("--")
    args, cmd = parser.parse_args(argv[:split]), argv[split + 1:]
    if answers(None):
        return subprocess.run(cmd, env=docker_env(None)).returncode
    engine = PrivateEngine(args.root)
    engine.start(report=lambda line: print(line, file=sys.stderr))
    try:
        return subprocess.run(cmd, env=docker_env(engine.host)).returncode
    finally:
        engine.stop(report=lambda line: print(line, file=sys.stderr))
        if args.remove:
            shutil.rmtree(engine.root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
