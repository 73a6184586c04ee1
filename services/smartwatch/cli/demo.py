"""`smartwatch demo` (make demo): the whole pipeline on the local stack, checked against what
was sent (dev tooling, `smartwatch_dev.demo`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from smartwatch.cli.options import add_command, subcommands

DEFAULT_STATE = ".stack/demo in the checkout"


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    demo = add_command(
        sub, "demo", help="the whole pipeline on the local stack, checked (make demo)",
        description="Starts the local stack, the operator and the local SparkApplication\n"
                    "runner; registers users in several zones; simulates their watches through\n"
                    "the API (resends and late readings too); lands and aggregates through\n"
                    "AggregationSchedules; prints one reconciliation line and writes an HTML\n"
                    "report; then stops everything (docs/demo.md).",
        examples=["smartwatch demo", "smartwatch demo --users 5 --days 2 --keep-running",
                  "smartwatch demo check"])
    demo.add_argument("--users", type=_positive, default=20, metavar="N",
                      help="simulated users, one watch each (default: %(default)s)")
    demo.add_argument("--days", type=_positive, default=7, metavar="N",
                      help="days of readings, one a minute (default: %(default)s)")
    demo.add_argument("--direct", action="store_true",
                      help="run the aggregation commands directly instead of through the "
                           "operator and SparkApplications")
    demo.add_argument("--keep-running", action="store_true",
                      help="leave everything running to explore; prints how to reach it")
    demo.add_argument("--show-password", action="store_true",
                      help="with --keep-running, print the Postgres URL with its password")
    demo.add_argument("--report", type=Path, default=None, metavar="FILE",
                      help="where the HTML report goes (default: report.html in the state "
                           "folder)")
    demo.add_argument("--state-dir", type=Path, default=None, metavar="DIR",
                      help=f"the demo's state folder (default: {DEFAULT_STATE})")
    demo.set_defaults(func=cmd_demo)
    actions = subcommands(demo)
    actions.required = False
    check = add_command(actions, "check", help="reconcile a demo left running again",
                        examples=["smartwatch demo check --state-dir .stack/demo"])
    check.add_argument("--state-dir", type=Path, default=None, metavar="DIR", dest="check_state",
                       help=f"the demo's state folder (default: {DEFAULT_STATE})")
    check.set_defaults(func=cmd_check)


def _state(given: Path | None) -> Path:
    from smartwatch_dev.toolchain import REPO_ROOT

    return (given or REPO_ROOT / ".stack" / "demo").resolve()


def cmd_demo(args: argparse.Namespace) -> int:
    from smartwatch_dev.demo.run import Demo, Options

    if args.show_password and not args.keep_running:
        print("smartwatch demo: --show-password goes with --keep-running", file=sys.stderr)
        return 2
    options = Options(users=args.users, days=args.days, direct=args.direct,
                      keep_running=args.keep_running, show_password=args.show_password,
                      state_dir=_state(args.state_dir), report=args.report)
    return Demo(options).run()


def cmd_check(args: argparse.Namespace) -> int:
    from smartwatch_dev.demo.run import check

    state = _state(args.check_state or args.state_dir)
    if not (state / "demo" / "sent.json").exists():
        print(f"smartwatch demo check: no finished demo in {state} (run smartwatch demo "
              "--keep-running first)", file=sys.stderr)
        return 2
    line, matched = check(state)
    print(line)
    return 0 if matched else 1
