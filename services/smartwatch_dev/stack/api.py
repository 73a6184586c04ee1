"""The ingest API as a stack process (uvicorn), wired to the stack's Kafka and Postgres."""

from __future__ import annotations

import os
import secrets
import sys
import urllib.request
from pathlib import Path
from typing import Any

from smartwatch_dev.stack.process import reuse_port, spawn, wait_until


class Api:
    name = "api"

    def __init__(self, state: Path) -> None:
        self.dir = state / "api"
        self.token_file = self.dir / "admin-token"

    def start(self, previous: dict[str, Any] | None, kafka_bootstrap: str, postgres_dsn: str,
              auth: bool, workers: int = 1) -> dict[str, Any]:
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.token_file.exists():
            self.token_file.write_text(secrets.token_urlsafe(32))
            self.token_file.chmod(0o600)
        port = reuse_port(previous, "port")
        env = {**os.environ, "SMARTWATCH_KAFKA_BOOTSTRAP": kafka_bootstrap,
               "SMARTWATCH_POSTGRES_DSN": postgres_dsn, "SMARTWATCH_API_AUTH": str(auth).lower()}
        env.pop("SMARTWATCH_ADMIN_TOKEN", None)
        log = self.dir / "api.log"
        proc = spawn([sys.executable, "-m", "smartwatch", "api", "--host", "127.0.0.1",
                      "--port", str(port), "--admin-token-file", self.token_file,
                      "--workers", str(workers)], log, env=env)
        url = f"http://127.0.0.1:{port}"
        record = {"pid": proc.pid, "address": url, "port": port, "log": str(log), "url": url,
                  "admin_token_file": str(self.token_file), "auth": auth}
        wait_until(lambda: self.healthy(record), 60, "ingest API", proc, log)
        return record

    def healthy(self, record: dict[str, Any]) -> bool:
        try:
            with urllib.request.urlopen(f"{record['url']}/readyz", timeout=3) as resp:
                return resp.status == 200
        except OSError:
            return False
