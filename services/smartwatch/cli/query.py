"""`smartwatch query`: a user's stored figures."""

from __future__ import annotations

import argparse
import json

from smartwatch.cli.options import JSON, STACK, add_command
from smartwatch.periods import GRANULARITIES
from smartwatch_jobs.commands import date  # the one YYYY-MM-DD argument type


def register(sub: argparse._SubParsersAction) -> None:
    query = add_command(sub, "query", help="a user's stored figures", parents=[JSON, STACK],
                        description="The user's rows whose period starts in [--from, --to] "
                                    "(open ends\nwhen not given), in order, as tab-separated "
                                    "columns or JSON.",
                        examples=["smartwatch query sim-user-00001 --granularity weekly "
                                  "--from 2026-01-01"])
    query.add_argument("user", help="user id")
    query.add_argument("--granularity", default="daily", choices=GRANULARITIES,
                       help="the figures' period (default: %(default)s)")
    query.add_argument("--from", dest="start", type=date, default=None, metavar="DATE",
                       help="first period start to show")
    query.add_argument("--to", dest="end", type=date, default=None, metavar="DATE",
                       help="last period start to show")
    query.set_defaults(func=cmd_query)


def cmd_query(args: argparse.Namespace) -> int:
    from smartwatch.aggregates import query
    from smartwatch.cli.local import need_dsn, settings_for
    from smartwatch.db.pool import Pool

    pool = Pool(need_dsn(settings_for(("postgres_dsn",), args.state_dir)), max_connections=1)
    try:
        rows = query(pool, args.user, args.granularity, args.start, args.end)
    finally:
        pool.close()
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not rows:
        print(f"no {args.granularity} rows for {args.user} in that range")
        return 0
    cols = list(rows[0])
    print("\t".join(cols))
    for r in rows:
        print("\t".join("" if r[c] is None else str(r[c]) for c in cols))
    return 0
