"""The `smartwatch` command."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smartwatch.settings import Settings, get_settings
from smartwatch.stack import COMPONENTS, Stack
from smartwatch.toolchain import ToolMissing


def _components(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in COMPONENTS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown component {', '.join(unknown)}; choose from {', '.join(COMPONENTS)}")
    return names


def _print_status(status: dict) -> None:
    rows = [("COMPONENT", "ADDRESS", "PID", "HEALTH")]
    for c in status["components"]:
        rows.append((c["component"], c["address"] or "-", str(c["pid"] or "-"), c["health"]))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    for key in ("kafka_bootstrap", "postgres_dsn", "kubeconfig", "api_url"):
        if status.get(key):
            print(f"{key}: {status[key]}")
    print(f"state: {status['state_dir']}")


def cmd_stack(args: argparse.Namespace) -> int:
    stack = Stack(get_settings(), args.state_dir)
    if args.action == "status":
        status = stack.status()
        if args.json:
            print(json.dumps(status, indent=2))
        else:
            _print_status(status)
        return 0 if all(c["health"] in ("ok", "external") for c in status["components"]
                        if c["component"] in args.only) else 1
    if args.action == "down":
        stack.down(only=args.only, report=print)
        return 0
    if args.action == "leftovers":
        found = stack.leftovers()
        for pid, line in found:
            print(f"{pid} {line}")
        return 1 if found else 0

    # up: SIGTERM is handled like Ctrl-C, so either stops what was started.
    def _interrupt(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        stack.up(only=args.only, report=print)
        _print_status(stack.status())
        if args.detach:
            print("stack is up; stop it with: smartwatch stack down")
            return 0
        print("stack is up; press Ctrl-C to stop it")
        threading.Event().wait()
    except KeyboardInterrupt:
        print("\nstopping the stack", file=sys.stderr)
        stack.down(only=args.only, report=print)
        return 130
    return 0


def connected_settings(state_dir: str | None = None) -> Settings:
    """Settings, with Kafka, Postgres and the API filled in from the local stack where the
    environment names none."""
    settings = get_settings()
    stack = Stack(settings, state_dir)
    status = stack.status()
    update: dict[str, Any] = {}
    if not settings.kafka_bootstrap and status["kafka_bootstrap"]:
        update["kafka_bootstrap"] = status["kafka_bootstrap"]
    if not settings.postgres_dsn and status["postgres_dsn"]:
        update["postgres_dsn"] = status["postgres_dsn"]
    if settings.admin_secret() is None and status.get("api_admin_token_file"):
        update["admin_token_file"] = Path(status["api_admin_token_file"])
    return settings.model_copy(update=update)


def _need_dsn(settings: Settings) -> str:
    if not settings.postgres_dsn:
        raise RuntimeError("no Postgres: set SMARTWATCH_POSTGRES_DSN or run `smartwatch stack up`")
    return settings.postgres_dsn


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from smartwatch.api import create_app

    settings = connected_settings(args.state_dir)
    if args.admin_token_file:
        settings = settings.model_copy(update={"admin_token_file": Path(args.admin_token_file)})
    app = create_app(settings)
    uvicorn.run(app, host=args.host or settings.api_host, port=args.port or settings.api_port,
                log_level="warning", access_log=False, loop="uvloop", http="httptools")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from smartwatch.db import migrate

    applied = migrate(_need_dsn(connected_settings(args.state_dir)))
    print(f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied
          else "schema is up to date")
    return 0


def _registry(args: argparse.Namespace):
    from smartwatch.db import migrate
    from smartwatch.registry import Registry

    dsn = _need_dsn(connected_settings(args.state_dir))
    migrate(dsn)
    return Registry(dsn, max_connections=1)


def cmd_users(args: argparse.Namespace) -> int:
    from smartwatch.registry import ProfileImportError

    try:
        entries = json.loads(Path(args.file).read_text())
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"cannot read {args.file}: {exc}") from None
    if isinstance(entries, dict):
        entries = [entries]
    registry = _registry(args)
    try:
        counts = registry.import_profiles(entries)
    except ProfileImportError as exc:
        for p in exc.problems:
            print(f"entry {p['index']}: {p['field']}: {p['reason']}", file=sys.stderr)
        print("nothing imported", file=sys.stderr)
        return 1
    finally:
        registry.close()
    print(f"imported {counts['users']} user(s), {counts['devices']} device owner(s)")
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    registry = _registry(args)
    try:
        print(registry.issue_token(args.device))
    finally:
        registry.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smartwatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    stack = sub.add_parser("stack", help="run the local stack (Kafka, Postgres, kube-apiserver)")
    stack.add_argument("action", choices=["up", "down", "status", "leftovers"],
                       help="up: start (and stay until Ctrl-C unless --detach); down: stop; "
                            "status: report; leftovers: list processes still running from it")
    stack.add_argument("--only", type=_components, default=COMPONENTS,
                       help=f"comma-separated subset of {','.join(COMPONENTS)}")
    stack.add_argument("--detach", action="store_true", help="up: return once everything is up")
    stack.add_argument("--json", action="store_true", help="status: print JSON for scripts")
    stack.add_argument("--state-dir", default=None,
                       help="state folder (default: SMARTWATCH_STATE_DIR or .stack/dev in the checkout)")
    stack.set_defaults(func=cmd_stack)

    state_help = "local stack whose servers to use when the environment names none"
    api = sub.add_parser("api", help="run the ingest API (uvicorn)")
    api.add_argument("--host", default=None)
    api.add_argument("--port", type=int, default=None)
    api.add_argument("--admin-token-file", default=None, help="file holding the admin token")
    api.add_argument("--state-dir", default=None, help=state_help)
    api.set_defaults(func=cmd_api)

    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["migrate"])
    db.add_argument("--state-dir", default=None, help=state_help)
    db.set_defaults(func=cmd_db)

    users = sub.add_parser("users", help="the user registry")
    users.add_argument("action", choices=["import"])
    users.add_argument("file", help="JSON array in the shape of the prototype's user_profiles.json"
                                    " (user_id, device_id, user_email, gender, age; time_zone optional)")
    users.add_argument("--state-dir", default=None, help=state_help)
    users.set_defaults(func=cmd_users)

    devices = sub.add_parser("devices", help="device tokens")
    devices.add_argument("action", choices=["token"])
    devices.add_argument("device", help="device id; prints a new token once, revoking older ones")
    devices.add_argument("--state-dir", default=None, help=state_help)
    devices.set_defaults(func=cmd_devices)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ToolMissing as exc:
        print(f"smartwatch: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, TimeoutError) as exc:
        print(f"smartwatch: {exc}", file=sys.stderr)
        return 1
