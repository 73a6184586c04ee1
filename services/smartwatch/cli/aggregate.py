"""`smartwatch aggregate`: per-user daily, weekly or monthly figures (Spark). The
SparkApplications run this command too, through jobs/smartwatch_jobs/submit.py."""

from __future__ import annotations

import argparse
import sys

from smartwatch.cli.options import STACK, add_command, date
from smartwatch.periods import GRANULARITIES

NEEDS = ("postgres_dsn", "lake_uri")


def register(sub: argparse._SubParsersAction) -> None:
    agg = add_command(
        sub, "aggregate", help="per-user daily, weekly or monthly figures (Spark)",
        parents=[STACK],
        description="Computes one window of whole periods (or every dirty window) from the\n"
                    "lake and replaces its rows in Postgres in one transaction\n"
                    "(docs/aggregation.md).",
        examples=["smartwatch aggregate --granularity daily --from 2026-03-01 --to 2026-03-31",
                  "smartwatch aggregate --granularity weekly --dirty --run-name nightly"])
    agg.add_argument("--granularity", required=True, choices=GRANULARITIES,
                     help="the figures' period")
    agg.add_argument("--from", dest="start", type=date, metavar="DATE",
                     help="first local date of the window")
    agg.add_argument("--to", dest="end", type=date, metavar="DATE",
                     help="last local date of the window")
    agg.add_argument("--dirty", action="store_true",
                     help="recompute only windows with new data, then mark them clean")
    agg.add_argument("--run-name", default=None, metavar="NAME",
                     help="record the run in aggregation_runs under NAME (1 to 200 printable "
                          "characters, no whitespace; default: a generated unique name). With "
                          "--dirty each window's run is NAME-<window's first day as YYYYMMDD>. "
                          "A name whose run succeeded is refused (exit 1, nothing written); "
                          "one whose run failed or never finished is taken over by this run")
    agg.set_defaults(func=cmd_aggregate)


def cmd_aggregate(args: argparse.Namespace) -> int:
    if not args.dirty and (args.start is None or args.end is None):
        print("smartwatch aggregate: give --from and --to, or --dirty", file=sys.stderr)
        return 2
    from smartwatch.cli.local import settings_for, spark_settings
    from smartwatch_jobs.main import aggregate

    settings = spark_settings(settings_for(NEEDS, args.state_dir))
    return aggregate(settings, args.granularity, args.start, args.end, args.dirty, args.run_name)
