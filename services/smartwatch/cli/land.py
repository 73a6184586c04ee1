"""`smartwatch land`: the landing job, Kafka to the Parquet lake (Spark)."""

from __future__ import annotations

import argparse

from smartwatch.cli.options import STACK, add_command

NEEDS = ("kafka_bootstrap", "postgres_dsn", "lake_uri", "quarantine_uri", "checkpoint_uri")


def register(sub: argparse._SubParsersAction) -> None:
    land = add_command(
        sub, "land", help="the landing job: Kafka to the Parquet lake (Spark)", parents=[STACK],
        description="Reads the events topic, writes valid events to the lake (Parquet by UTC\n"
                    "date), the rest to quarantine, and records dirty dates in Postgres.\n"
                    "Locations and limits come from SMARTWATCH_* settings (docs/landing.md),\n"
                    "or from the local stack where those name none.",
        examples=["smartwatch land --available-now", "smartwatch land   # runs until stopped"])
    land.add_argument("--available-now", action="store_true",
                      help="drain what is in Kafka now, then exit (default: run continuously)")
    land.set_defaults(func=cmd_land)


def cmd_land(args: argparse.Namespace) -> int:
    from smartwatch.cli.local import settings_for, spark_settings
    from smartwatch_jobs.main import land

    return land(spark_settings(settings_for(NEEDS, args.state_dir)),
                available_now=args.available_now)
