"""`smartwatch api`: the ingest API under uvicorn."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from smartwatch.cli.options import STACK, add_command

#: Kafka and Postgres, and the admin token: from the local stack when the environment lacks them.
NEEDS = ("kafka_bootstrap", "postgres_dsn", "admin_token_file")


def register(sub: argparse._SubParsersAction) -> None:
    api = add_command(sub, "api", help="run the ingest API (uvicorn)", parents=[STACK],
                      description="The ingest API (docs/api.md). Settings come from SMARTWATCH_*;\n"
                                  "Kafka, Postgres and the admin token from the local stack\n"
                                  "where those name none.",
                      examples=["smartwatch api --port 8000 --workers 2"])
    api.add_argument("--host", default=None, help="address to listen on (default: "
                                                   "SMARTWATCH_API_HOST, 127.0.0.1)")
    api.add_argument("--port", type=int, default=None,
                     help="port (default: SMARTWATCH_API_PORT, 8000)")
    api.add_argument("--admin-token-file", type=Path, default=None, metavar="FILE",
                     help="file holding the admin token (default: SMARTWATCH_ADMIN_TOKEN(_FILE))")
    api.add_argument("--workers", type=int, default=None, metavar="N",
                     help="worker processes (default: SMARTWATCH_API_WORKERS, 1)")
    api.set_defaults(func=cmd_api)


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from smartwatch.api import create_app
    from smartwatch.cli.local import settings_for
    from smartwatch.settings import get_settings

    settings = get_settings()
    if args.admin_token_file:
        settings = settings.model_copy(update={"admin_token_file": args.admin_token_file})
    settings = settings_for(NEEDS, args.state_dir, settings)
    workers = args.workers or settings.api_workers
    options: dict[str, Any] = {
        "host": args.host or settings.api_host, "port": args.port or settings.api_port,
        "log_level": "warning", "access_log": False, "loop": "uvloop", "http": "httptools",
        # Nothing reads the client address (X-Forwarded-For is only trusted from 127.0.0.1 by
        # default, which no ingress is), and no Server header: 3 % of a one-event request.
        "proxy_headers": False, "server_header": False}
    if workers == 1:
        uvicorn.run(create_app(settings), **options)
        return 0
    # Worker processes build their app from the environment: hand the resolved settings on.
    for name, value in (("KAFKA_BOOTSTRAP", settings.kafka_bootstrap),
                        ("POSTGRES_DSN", settings.postgres_dsn),
                        ("ADMIN_TOKEN_FILE", settings.admin_token_file)):
        if value:
            os.environ[f"SMARTWATCH_{name}"] = str(value)
    uvicorn.run("smartwatch.api.main:app_from_environment", factory=True, workers=workers,
                **options)
    return 0
