"""The Spark jobs' commands, each declared once: its help, its arguments, the settings it
needs and what it runs (`smartwatch_jobs.main`).

`submit.py`, which spark-submit runs in a pod, parses its arguments with `parser()` and runs
the command on the environment's settings alone. The `smartwatch` CLI registers the same
commands (`smartwatch.cli.jobs`) and, on a developer's machine, fills the settings a command
`needs` from the local stack first. Building the parser imports neither pyspark nor the
jobs: a command's run imports them.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
from collections.abc import Callable, Sequence

from smartwatch.periods import GRANULARITIES
from smartwatch.settings import Settings, get_settings, invalid_settings

PROG = "smartwatch"


def date(text: str) -> dt.date:
    """An argument of the form YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


@dataclasses.dataclass(frozen=True)
class Job:
    name: str
    help: str
    description: str
    examples: tuple[str, ...]
    #: The settings the job cannot run without (Settings' field names). The job refuses to
    #: start without them (`missing`), after checking its arguments.
    needs: tuple[str, ...]
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Settings, argparse.Namespace], int]


def missing(job: Job, settings: Settings) -> int:
    """2, with one line naming the SMARTWATCH_* settings the job needs and lacks; else 0."""
    lacking = [name for name in job.needs if not getattr(settings, name)]
    if lacking:
        print(f"{PROG} {job.name}: missing settings: "
              f"{', '.join('SMARTWATCH_' + m.upper() for m in lacking)}", file=sys.stderr)
        return 2
    return 0


# --- land ---------------------------------------------------------------------------------------

def _land_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--available-now", action="store_true",
                        help="drain what is in Kafka now, then exit (default: run continuously)")


def _land(settings: Settings, args: argparse.Namespace) -> int:
    from smartwatch_jobs.main import land

    return land(settings, available_now=args.available_now)


LAND = Job(
    "land", help="the landing job: Kafka to the Parquet lake (Spark)",
    description="Reads the events topic, writes valid events to the lake (Parquet by UTC\n"
                "date), the rest to quarantine, and records dirty dates in Postgres.\n"
                "Locations and limits come from SMARTWATCH_* settings (docs/landing.md).",
    examples=("smartwatch land --available-now", "smartwatch land   # runs until stopped"),
    needs=("kafka_bootstrap", "postgres_dsn", "lake_uri", "quarantine_uri", "checkpoint_uri"),
    arguments=_land_arguments, run=_land)


# --- aggregate ----------------------------------------------------------------------------------

def _aggregate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--granularity", required=True, choices=GRANULARITIES,
                        help="the figures' period")
    parser.add_argument("--from", dest="start", type=date, metavar="DATE",
                        help="first local date of the window")
    parser.add_argument("--to", dest="end", type=date, metavar="DATE",
                        help="last local date of the window")
    parser.add_argument("--dirty", action="store_true",
                        help="recompute only windows with new data, then mark them clean")
    parser.add_argument("--run-name", default=None, metavar="NAME",
                        help="record the run in aggregation_runs under NAME (1 to 200 printable "
                             "characters, no whitespace; default: a generated unique name). With "
                             "--dirty each window's run is NAME-<window's first day as "
                             "YYYYMMDD>. A name whose run succeeded is refused (exit 1, nothing "
                             "written); one whose run failed or never finished is taken over by "
                             "this run")


def _aggregate(settings: Settings, args: argparse.Namespace) -> int:
    if not args.dirty and (args.start is None or args.end is None):
        print(f"{PROG} aggregate: give --from and --to, or --dirty", file=sys.stderr)
        return 2
    from smartwatch_jobs.main import aggregate

    return aggregate(settings, args.granularity, args.start, args.end, args.dirty, args.run_name)


AGGREGATE = Job(
    "aggregate", help="per-user daily, weekly or monthly figures (Spark)",
    description="Computes one window of whole periods (or every dirty window) from the\n"
                "lake and replaces its rows in Postgres in one transaction\n"
                "(docs/aggregation.md).",
    examples=("smartwatch aggregate --granularity daily --from 2026-03-01 --to 2026-03-31",
              "smartwatch aggregate --granularity weekly --dirty --run-name nightly"),
    needs=("postgres_dsn", "lake_uri"), arguments=_aggregate_arguments, run=_aggregate)


# --- compact ------------------------------------------------------------------------------------

def _compact_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="start", type=date, required=True, metavar="DATE",
                        help="first UTC date")
    parser.add_argument("--to", dest="end", type=date, required=True, metavar="DATE",
                        help="last UTC date")
    parser.add_argument("--target-mib", type=int, default=128, metavar="MIB",
                        help="size of a compacted file (default: %(default)s)")


def _compact(settings: Settings, args: argparse.Namespace) -> int:
    from smartwatch_jobs.main import compact

    return compact(settings, args.start, args.end, args.target_mib)


COMPACT = Job(
    "compact", help="rewrite a date range of the lake into few large files",
    description="Atomically for readers: each date's folder is rebuilt beside the live\n"
                "one and the two are exchanged (docs/landing.md).",
    examples=("smartwatch compact --from 2026-03-01 --to 2026-03-07 --target-mib 256",),
    needs=("lake_uri", "checkpoint_uri"), arguments=_compact_arguments, run=_compact)


# --- audit --------------------------------------------------------------------------------------

def _audit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="start", type=date, metavar="DATE", help="first local date")
    parser.add_argument("--to", dest="end", type=date, metavar="DATE", help="last local date")
    parser.add_argument("--last-days", type=int, metavar="N",
                        help="instead of --from and --to: the N days before today (UTC)")
    parser.add_argument("--json", action="store_true", help="print JSON, for scripts")


def audit_dates(args: argparse.Namespace, today: dt.date) -> tuple[dt.date, dt.date] | str:
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


def _audit(settings: Settings, args: argparse.Namespace) -> int:
    found = audit_dates(args, dt.datetime.now(dt.UTC).date())
    if isinstance(found, str):
        print(f"{PROG} audit: {found}", file=sys.stderr)
        return 2
    from smartwatch_jobs.main import audit

    return audit(settings, *found, as_json=args.json)


AUDIT = Job(
    "audit", help="prove each landed reading counted once, for its owner",
    description="For the local dates --from..--to: the landing's lag (records in Kafka not\n"
                "landed yet, and lost to retention); per user and local day, the distinct\n"
                "readings in the lake under the owner and zone in effect when measured,\n"
                "against `readings` of the daily figures; and the readings of devices\n"
                "without an owner. Exits 1 naming each user and day that differ, or if\n"
                "records were lost; 0 otherwise. Run it after the aggregation has run.",
    examples=("smartwatch audit --from 2026-03-01 --to 2026-03-31",
              "smartwatch audit --last-days 35 --json"),
    needs=("kafka_bootstrap", "postgres_dsn", "lake_uri"), arguments=_audit_arguments,
    run=_audit)


#: The jobs, in the order `smartwatch --help` lists them.
JOBS = {job.name: job for job in (LAND, AGGREGATE, COMPACT, AUDIT)}


def parser() -> argparse.ArgumentParser:
    """The jobs' command line, as spark-submit's driver takes it."""
    top = argparse.ArgumentParser(prog=PROG, description="The Spark jobs.")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for job in JOBS.values():
        job.arguments(sub.add_parser(job.name, help=job.help, description=job.description))
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run its job on the environment's settings (SMARTWATCH_*): 2 with one
    line for settings that do not validate, 1 with one line for a RuntimeError."""
    from pydantic import ValidationError

    args = parser().parse_args(argv)
    try:
        return JOBS[args.command].run(get_settings(), args)
    except ValidationError as exc:
        print(f"{PROG}: {invalid_settings(exc)}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"{PROG} {args.command}: {exc}", file=sys.stderr)
        return 1
