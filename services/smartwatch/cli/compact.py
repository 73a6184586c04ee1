"""`smartwatch compact`: a date range of the lake rewritten into few large files (Spark)."""

from __future__ import annotations

import argparse

from smartwatch.cli.options import STACK, add_command, date

NEEDS = ("lake_uri", "checkpoint_uri")


def register(sub: argparse._SubParsersAction) -> None:
    comp = add_command(
        sub, "compact", help="rewrite a date range of the lake into few large files",
        parents=[STACK],
        description="Atomically for readers: each date's folder is rebuilt beside the live\n"
                    "one and the two are exchanged (docs/landing.md).",
        examples=["smartwatch compact --from 2026-03-01 --to 2026-03-07 --target-mib 256"])
    comp.add_argument("--from", dest="start", type=date, required=True, metavar="DATE",
                      help="first UTC date")
    comp.add_argument("--to", dest="end", type=date, required=True, metavar="DATE",
                      help="last UTC date")
    comp.add_argument("--target-mib", type=int, default=128, metavar="MIB",
                      help="size of a compacted file (default: %(default)s)")
    comp.set_defaults(func=cmd_compact)


def cmd_compact(args: argparse.Namespace) -> int:
    from smartwatch.cli.local import settings_for, spark_settings
    from smartwatch_jobs.main import compact

    return compact(spark_settings(settings_for(NEEDS, args.state_dir)), args.start, args.end,
                   args.target_mib)
