"""A Postgres cluster in the stack's state folder: a database and a role that logs in with a
password over TCP on the loopback address (the local socket is for the stack itself)."""

from __future__ import annotations

import hashlib
import os
import pwd
import secrets
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from smartwatch_dev import toolchain
from smartwatch_dev.stack.process import reuse_port, spawn, unprivileged_user, wait_until


def masked(dsn: str, show: bool = False) -> str:
    """A Postgres URL with its password as *** (unless `show`), for what is printed."""
    parts = urlsplit(dsn)
    if show or not parts.password:
        return dsn
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))

DATABASE = "smartwatch"
ROLE = "smartwatch"
SUPERUSER = "postgres"


class Postgres:
    name = "postgres"

    def __init__(self, state: Path) -> None:
        self.dir = state / "postgres"
        self.data = self.dir / "data"
        self.sockets = self.dir / "run"

    def _place_server(self, user: str | None) -> None:
        """Data and socket folders: in the state folder, unless the unprivileged user Postgres
        runs as cannot reach it (a checkout under a private home folder): then in a folder of
        the temporary directory named after the state folder, noted in `server-dir`."""
        self.dir.mkdir(parents=True, exist_ok=True)
        server = self.dir
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
            if not self._reachable(user):
                digest = hashlib.sha256(str(self.dir).encode()).hexdigest()[:12]
                server = Path(tempfile.gettempdir()) / f"smartwatch-postgres-{digest}"
                server.mkdir(mode=0o700, exist_ok=True)
                os.chown(server, entry.pw_uid, entry.pw_gid)
                (self.dir / "server-dir").write_text(f"{server}\n")
        self.server = server
        self.data = server / "data"
        self.sockets = server / "run"
        self.sockets.mkdir(parents=True, exist_ok=True)
        if user is not None:
            os.chown(self.sockets, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)

    def start(self, previous: dict[str, Any] | None) -> dict[str, Any]:
        bindir = toolchain.postgres_bin_dir()
        user = unprivileged_user()
        self._place_server(user)
        log = self.dir / "postgres.log"  # opened by us: any folder will do
        if not (self.data / "PG_VERSION").exists():
            pwfile = self.server / "superuser.pw"  # initdb wants one; local access is by socket
            pwfile.write_text(secrets.token_urlsafe(24))
            if user is not None:
                os.chown(pwfile, pwd.getpwnam(user).pw_uid, -1)
            init = spawn([bindir / "initdb", "-D", self.data, "-U", SUPERUSER, "-E", "UTF8",
                          "--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256",
                          f"--pwfile={pwfile}"], log, user=user)
            if init.wait(timeout=120) != 0:
                raise RuntimeError(f"initdb failed; see {log}")
        port = reuse_port(previous, "port")
        proc = spawn([bindir / "postgres", "-D", self.data, "-p", str(port),
                      "-c", "listen_addresses=127.0.0.1",
                      "-c", f"unix_socket_directories={self.sockets}",
                      "-c", "max_connections=200",
                      # Names the state folder in the command line, for `stack leftovers`.
                      "-c", f"smartwatch.state={self.dir}"], log, user=user)
        wait_until(lambda: self._socket_query("SELECT 1", port) is not None, 60,
                   "Postgres", proc, log)
        password = self._ensure_role_and_database(port)
        dsn = f"postgresql://{ROLE}:{quote(password)}@127.0.0.1:{port}/{DATABASE}"
        return {"pid": proc.pid, "address": f"127.0.0.1:{port}", "port": port,
                "log": str(log), "dsn": dsn}

    def healthy(self, record: dict[str, Any]) -> bool:
        import psycopg2

        try:
            with psycopg2.connect(record["dsn"], connect_timeout=2) as conn, conn.cursor() as cur:
                cur.execute("SELECT 1")
                return cur.fetchone() == (1,)
        except psycopg2.Error:
            return False

    # -- internals ---------------------------------------------------------------------------
    def _reachable(self, user: str) -> bool:
        return subprocess.run(["runuser", "-u", user, "--", "test", "-w", str(self.dir)],
                              capture_output=True).returncode == 0

    def _socket_query(self, sql: str, port: int) -> Any:
        import psycopg2

        with psycopg2.connect(host=str(self.sockets), port=port, user=SUPERUSER,
                              dbname="postgres", connect_timeout=2) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchone() if cur.description else True

    def _ensure_role_and_database(self, port: int) -> str:
        import psycopg2

        pwfile = self.dir / "password"
        if not pwfile.exists():
            pwfile.write_text(secrets.token_urlsafe(24))
            pwfile.chmod(0o600)
        password = pwfile.read_text().strip()
        conn = psycopg2.connect(host=str(self.sockets), port=port, user=SUPERUSER, dbname="postgres")
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,))
                verb = "ALTER" if cur.fetchone() else "CREATE"
                # CREATEDB: tests give a run a database of its own (tests/k8s/test_schedule_runs.py).
                cur.execute(f"{verb} ROLE {ROLE} LOGIN CREATEDB PASSWORD %s", (password,))
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
                if not cur.fetchone():
                    cur.execute(f"CREATE DATABASE {DATABASE} OWNER {ROLE}")
        finally:
            conn.close()
        return password
