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
    migrate = add_command(
        actions, "migrate",
        help="apply the migrations not applied yet, in order",
        description="Applies every migration of services/smartwatch/db/migrations not\n"
                    "applied yet, in order, to the Postgres of SMARTWATCH_POSTGRES_DSN\n"
                    "(the local stack is never used).",
        examples=["SMARTWATCH_POSTGRES_DSN=postgresql://u:p@db:5432/smartwatch "
                  "smartwatch db migrate",
                  "smartwatch db migrate --wait 300"])
    migrate.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                         help="wait up to SECONDS for Postgres to accept the connection (a "
                              "name that does not resolve yet, a server starting), trying "
                              "every 2 s; refused credentials or a missing database fail at "
                              "once (default 0: one try)")
    migrate.set_defaults(func=cmd_migrate)


def cmd_migrate(args: argparse.Namespace) -> int:
    from smartwatch.db import migrate
    from smartwatch.settings import get_settings

    dsn = get_settings().postgres_dsn
    if not dsn:
        print("smartwatch db migrate: SMARTWATCH_POSTGRES_DSN is not set", file=sys.stderr)
        return 2
    try:
        wait_for_postgres(dsn, args.wait)
    except RuntimeError as exc:
        print(f"smartwatch db migrate: {exc}", file=sys.stderr)
        return 1
    applied = migrate(dsn)
    print(f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied
          else "schema is up to date")
    return 0


#: Refusals that waiting does not mend.
FINAL = ("authentication failed", "does not exist")


def wait_for_postgres(dsn: str, seconds: float, *, every: float = 2.0) -> None:
    """Return once Postgres accepts a connection to `dsn`; after `seconds` of failures raise
    the last one (at once for refused credentials or a missing database). Each new reason is
    printed once, on stderr."""
    import time

    from smartwatch.registry import connect_check

    deadline = time.monotonic() + seconds
    said = ""
    while True:
        try:
            connect_check(dsn)
            return
        except RuntimeError as exc:
            if any(word in str(exc) for word in FINAL):
                raise
            if time.monotonic() + every > deadline:
                raise RuntimeError(f"{exc} (after waiting {seconds:g} s)" if seconds else
                                   str(exc)) from None
            if str(exc) != said:
                said = str(exc)
                print(f"smartwatch db migrate: waiting for Postgres: {said}", file=sys.stderr)
        time.sleep(every)
