"""The `smartwatch` command: one module of this package per command group.

Each group module has `register(sub)`, which adds its sub-parser (its sub-commands, their
options and an example each) and sets its handlers. Building the parser imports no group's
dependencies: kopf, httpx, uvicorn, pyspark, the jobs' code, the operator, the simulator and
the local stack are imported inside the handler that needs them, so `smartwatch land --help`
loads none of them. The Spark jobs' commands are declared in `smartwatch_jobs.commands`
(their arguments and needed settings), which the Spark driver (submit.py) parses with, without
this package; `jobs` registers them here. Options shared by several commands are declared
once, in `options`. Filling settings from the local stack is `local`'s business alone.

argparse rather than click or typer: it adds no dependency (the Spark image and the pods carry
the CLI too), and lazy imports are plain with it, since a handler is just a function called
after parsing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from smartwatch.cli import (
    api,
    cluster,
    db,
    demo,
    events,
    jobs,
    operator_cmd,
    query,
    registry,
    schedules,
    simulate,
    spark_runner,
    stack,
)
from smartwatch.cli.options import Formatter, epilog

#: In the order `smartwatch --help` lists them.
GROUPS = (demo, stack, cluster, api, db, registry, jobs, query, schedules,
          operator_cmd, spark_runner, events, simulate)

DESCRIPTION = """\
The smart-watch pipeline: the local stack and kind cluster, the ingest API, the Spark
jobs, the operator and the simulator. Settings come from SMARTWATCH_* variables; the
local commands take the ones missing from the local stack and say so on stderr."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartwatch", description=DESCRIPTION,
        epilog=epilog(["smartwatch stack up --detach", "smartwatch simulate --devices 20",
                       "smartwatch land --available-now",
                       "smartwatch aggregate --granularity daily --dirty",
                       "smartwatch <command> --help"]),
        formatter_class=Formatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return parser


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line, parsed. A command with `takes_rest` (the operator's) parses the rest
    of its line itself; any other leaves nothing unparsed."""
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "takes_rest", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.rest = rest
    return args


def main(argv: Sequence[str] | None = None) -> int:
    from pydantic import ValidationError

    from smartwatch.db.pool import PostgresUnavailable
    from smartwatch.settings import invalid_settings

    args = parse(argv)
    try:
        return int(args.func(args))
    except ValidationError as exc:  # the environment's settings (Settings) do not validate
        print(f"smartwatch: {invalid_settings(exc)}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("smartwatch_dev"):
            raise
        # An image holds the runtime only: the local stack, the cluster, the simulator and
        # the demo are the dev tooling's, which runs from a checkout.
        print(f"smartwatch {args.command}: needs the dev tooling (smartwatch_dev), which only a "
              "checkout holds (make setup); this installation has the runtime alone",
              file=sys.stderr)
        return 2
    except (RuntimeError, TimeoutError, PostgresUnavailable) as exc:
        print(f"smartwatch: {exc}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 1))  # 2 for a set-up tool missing (ToolMissing)
