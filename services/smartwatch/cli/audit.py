"""`smartwatch audit`: proof that nothing accepted was lost or miscounted, for a range of
local dates (Spark; docs/reliability.md)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from smartwatch.cli.options import JSON, STACK, add_command, date

NEEDS = ("kafka_bootstrap", "postgres_dsn", "lake_uri")


def register(sub: argparse._SubParsersAction) -> None:
    audit = add_command(
        sub, "audit", help="prove each landed reading counted once, for its owner",
        parents=[STACK, JSON],
        description="For the local dates --from..--to: the landing's lag (records in Kafka not\n"
                    "landed yet, and lost to retention); per user and local day, the distinct\n"
                    "readings in the lake under the owner and zone in effect when measured,\n"
                    "against `readings` of the daily figures; and the readings of devices\n"
                    "without an owner. Exits 1 naming each user and day that differ, or if\n"
                    "records were lost; 0 otherwise. Run it after the aggregation has run.",
        examples=["smartwatch audit --from 2026-03-01 --to 2026-03-31",
                  "smartwatch audit --last-days 35 --json"])
    audit.add_argument("--from", dest="start", type=date, metavar="DATE",
                       help="first local date")
    audit.add_argument("--to", dest="end", type=date, metavar="DATE",
                       help="last local date")
    audit.add_argument("--last-days", type=int, metavar="N",
                       help="instead of --from and --to: the N days before today (UTC)")
    audit.set_defaults(func=cmd_audit)


def dates(args: argparse.Namespace, today: dt.date) -> tuple[dt.date, dt.date] | str:
    """The audited range, or what is wrong with the options."""
    if args.last_days is not None:
        if args.start or args.end:
            return "give --last-days, or --from and --to, not both"
        if args.last_days < 1:
            return f"--last-days must be at least 1 (got {args.last_days})"
        return today - dt.timedelta(days=args.last_days), today - dt.timedelta(days=1)
    if args.start is None or args.end is None:
        return "give --from and --to, or --last-days"
    if args.start > args.end:
        return f"--from {args.start} is after --to {args.end}"
    return args.start, args.end


def cmd_audit(args: argparse.Namespace) -> int:
    found = dates(args, dt.datetime.now(dt.UTC).date())
    if isinstance(found, str):
        print(f"smartwatch audit: {found}", file=sys.stderr)
        return 2
    first, last = found
    from smartwatch.cli.local import settings_for, spark_settings
    from smartwatch_jobs.main import audit

    return audit(spark_settings(settings_for(NEEDS, args.state_dir)), first, last,
                 as_json=args.json)
