"""`smartwatch db migrate`: the database schema. The chart's init container runs it, so it
takes Postgres from SMARTWATCH_POSTGRES_DSN alone, never from the local stack."""

from __future__ import annotations

import argparse
import sys

from smartwatch.cli.options import add_command, subcommands


def register(sub: argparse._SubParsersAction) -> None:
    group = add_command(sub, "db", help="the database schema",
                        examples=["SMARTWATCH_POSTGRES_DSN=postgresql://... smartwatch db migrate"])
    actions = subcommands(group)
    add_command(actions, "migrate",
                help="apply the migrations not applied yet, in order",
                description="Applies every migration of services/smartwatch/db/migrations "
                            "not\napplied yet, in order, to the Postgres of "
                            "SMARTWATCH_POSTGRES_DSN\n(the local stack is never used).",
                examples=["SMARTWATCH_POSTGRES_DSN=postgresql://u:p@db:5432/smartwatch "
                          "smartwatch db migrate"]).set_defaults(func=cmd_migrate)


def cmd_migrate(args: argparse.Namespace) -> int:
    from smartwatch.db import migrate
    from smartwatch.settings import get_settings

    dsn = get_settings().postgres_dsn
    if not dsn:
        print("smartwatch db migrate: SMARTWATCH_POSTGRES_DSN is not set", file=sys.stderr)
        return 2
    applied = migrate(dsn)
    print(f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied
          else "schema is up to date")
    return 0
