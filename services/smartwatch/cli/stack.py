"""`smartwatch stack up|down|status|leftovers|purge`: the local stack (dev tooling)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from smartwatch.cli.options import JSON, STATE_DIR, add_command, components, subcommands

ONLY = argparse.ArgumentParser(add_help=False)
ONLY.add_argument("--only", type=components, default=None, metavar="NAMES",
                  help="comma-separated components to act on (default: all of them, as "
                       "`stack status` lists them)")


def register(sub: argparse._SubParsersAction) -> None:
    group = add_command(
        sub, "stack", help="run the local stack (Kafka, Postgres, kube-apiserver, API)",
        description="The pipeline's servers as plain processes, with their data, configuration\n"
                    "and logs in a state folder (README.md, \"The local stack\").",
        examples=["smartwatch stack up --detach", "smartwatch stack status --json",
                  "smartwatch stack down"])
    actions = subcommands(group)
    up = add_command(actions, "up", parents=[ONLY, STATE_DIR],
                     help="start the stack, and stay until Ctrl-C (or SIGTERM) stops it",
                     examples=["smartwatch stack up", "smartwatch stack up --detach --only "
                                                      "postgres,kafka"])
    up.add_argument("--detach", action="store_true", help="return once everything is up")
    up.set_defaults(func=cmd_up)
    add_command(actions, "down", parents=[ONLY, STATE_DIR], help="stop the stack",
                examples=["smartwatch stack down"]).set_defaults(func=cmd_down)
    status = add_command(
        actions, "status", parents=[JSON, ONLY, STATE_DIR],
        help="report each component's address, pid and health (exit 1 unless all are up)",
        description="Reports each component's address, pid and health (exit 1 unless all are\n"
                    "up). The Postgres URL is printed with its password as *** unless\n"
                    "--show-password is given; --json prints it whole, for scripts.",
        examples=["smartwatch stack status", "smartwatch stack status --json --only postgres"])
    status.add_argument("--show-password", action="store_true",
                        help="print the Postgres URL with its password")
    status.set_defaults(func=cmd_status)
    add_command(actions, "leftovers", parents=[STATE_DIR],
                help="list processes (and cluster leftovers) still running from the state "
                     "folder (exit 1 if any)",
                examples=["smartwatch stack leftovers --state-dir .stack/test"],
                ).set_defaults(func=cmd_leftovers)
    add_command(actions, "purge", parents=[STATE_DIR],
                help="stop everything (its kind cluster too) and delete the state folder",
                examples=["smartwatch stack purge"]).set_defaults(func=cmd_purge)


def sigterm_as_interrupt() -> None:
    """So SIGTERM, like Ctrl-C, stops what an `up` started."""
    def _interrupt(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, _interrupt)


def report_leftovers(found: list[str]) -> int:
    for line in found:
        print(line)
    return 1 if found else 0


def _stack(args: argparse.Namespace):
    from smartwatch.settings import get_settings
    from smartwatch_dev.stack import Stack

    return Stack(get_settings(), args.state_dir)


def _only(args: argparse.Namespace) -> tuple[str, ...]:
    from smartwatch_dev.stack import COMPONENTS

    return COMPONENTS if args.only is None else args.only


def print_status(status: dict[str, Any], show_password: bool = False) -> None:
    from smartwatch_dev.stack.postgres import masked

    rows = [("COMPONENT", "ADDRESS", "PID", "HEALTH")]
    for c in status["components"]:
        rows.append((c["component"], c["address"] or "-", str(c["pid"] or "-"), c["health"]))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    for key in ("kafka_bootstrap", "postgres_dsn", "kubeconfig", "api_url"):
        if status.get(key):
            value = masked(status[key], show_password) if key == "postgres_dsn" else status[key]
            print(f"{key}: {value}")
    print(f"state: {status['state_dir']}")


def cmd_status(args: argparse.Namespace) -> int:
    status = _stack(args).status()
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        print_status(status, args.show_password)
    only = _only(args)
    return 0 if all(c["health"] in ("ok", "external") for c in status["components"]
                    if c["component"] in only) else 1


def cmd_down(args: argparse.Namespace) -> int:
    _stack(args).down(only=_only(args), report=print)
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    _stack(args).purge(report=print)
    return 0


def cmd_leftovers(args: argparse.Namespace) -> int:
    from smartwatch_dev.stack.cluster import Cluster

    stack = _stack(args)
    return report_leftovers([f"{pid} {line}" for pid, line in stack.leftovers()]
                            + Cluster(stack.state).leftovers())


def cmd_up(args: argparse.Namespace) -> int:
    stack, only = _stack(args), _only(args)
    sigterm_as_interrupt()
    try:
        stack.up(only=only, report=print)
        print_status(stack.status())
        if args.detach:
            print("stack is up; stop it with: smartwatch stack down")
            return 0
        print("stack is up; press Ctrl-C to stop it")
        threading.Event().wait()
    except KeyboardInterrupt:
        print("\nstopping the stack", file=sys.stderr)
        stack.down(only=only, report=print)
        return 130
    return 0
