"""The `smartwatch` command."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence

from smartwatch.settings import get_settings
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
