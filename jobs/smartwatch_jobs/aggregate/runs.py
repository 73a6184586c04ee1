"""Run bookkeeping in Postgres: run names, the claim of a name (aggregation_runs), a run's
outcome, and which UTC dates are dirty for a granularity (dirty_dates, aggregation_clean).

A name is used by one successful run. A name whose run failed or never finished is taken
over by a new attempt, whose start time is its token: an older attempt can no longer commit.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from smartwatch.dirty import changed_devices, dirty_utc_dates  # noqa: F401 (runs' API)
from smartwatch.periods import Window

RUN_NAME_MAX = 200


class RunNameError(ValueError):
    """An invalid --run-name, reported before Spark starts."""


class RunConflict(RuntimeError):
    """The run name is taken: its run succeeded (a name is used by one successful run), or a
    newer attempt under the same name took it over while this one ran. Nothing is written."""


@dataclass
class RunResult:
    run: str
    window: Window
    rows: int
    events_without_owner: int
    replaced: str | None = None  # the earlier unfinished or failed attempt this one took over


# --- names --------------------------------------------------------------------------------------
def check_run_name(name: str) -> str:
    """A run name: 1 to RUN_NAME_MAX printable characters, no whitespace."""
    if not 1 <= len(name) <= RUN_NAME_MAX:
        raise RunNameError(f"--run-name must have 1 to {RUN_NAME_MAX} characters, not {len(name)}")
    bad = next((c for c in name if c.isspace() or not c.isprintable()), None)
    if bad is not None:
        raise RunNameError(f"--run-name {name!r} contains {bad!r}: "
                           "give printable characters without whitespace")
    return name


def window_run_name(name: str, window: Window) -> str:
    """The run name of one window of a named --dirty run: NAME-<first day as YYYYMMDD>. The
    windows of one dirty run are disjoint, so their first days differ."""
    return f"{name}-{window.start:%Y%m%d}"


def new_run_name(window: Window) -> str:
    """A unique name for a run given none."""
    return f"{window.granularity}-{window.start}-{window.end}-{uuid.uuid4().hex[:8]}"


# --- aggregation_runs ---------------------------------------------------------------------------
def _describe(row) -> str:
    granularity, start, end, status, started, finished = row
    when = f"finished {finished:%Y-%m-%dT%H:%M:%SZ}" if finished else (
        f"started {started:%Y-%m-%dT%H:%M:%SZ}")
    return f"{status} ({granularity} {start}..{end}, {when})"


_RUN_ROW = """SELECT granularity, window_from, window_to, status, started_at AT TIME ZONE 'UTC',
                     finished_at AT TIME ZONE 'UTC' FROM aggregation_runs WHERE run = %s"""


def refuse_succeeded(conn, runs: Iterable[str]) -> None:
    """RunConflict if any of these names belongs to a run that succeeded (checked before any
    work starts; claim_run checks again, atomically)."""
    with conn.cursor() as cur:
        for run in runs:
            cur.execute(_RUN_ROW, (run,))
            row = cur.fetchone()
            if row is not None and row[3] == "succeeded":
                raise RunConflict(f"run {run} already {_describe(row)}: a name is used by one "
                                  "successful run; give another --run-name to recompute")


def claim_run(conn, run: str, window: Window, started: dt.datetime) -> str | None:
    """Record the run as running, in its own transaction. A new name is inserted. A name whose
    run failed, or never finished (still `running`: its driver died, or it still runs), is taken
    over: the row is reset to this attempt, whose start time (`started_at`) is its token, so
    the older attempt can no longer commit. A name whose run succeeded is refused (RunConflict).
    Returns a description of the attempt taken over, if any."""
    with conn, conn.cursor() as cur:
        cur.execute(_RUN_ROW + " FOR UPDATE", (run,))
        previous = cur.fetchone()
        if previous is not None and previous[3] == "succeeded":
            raise RunConflict(f"run {run} already {_describe(previous)}: a name is used by one "
                              "successful run; give another --run-name to recompute")
        cur.execute("""INSERT INTO aggregation_runs (run, granularity, window_from, window_to,
                         started_at, status) VALUES (%s, %s, %s, %s, %s, 'running')
                       ON CONFLICT (run) DO UPDATE SET granularity = EXCLUDED.granularity,
                         window_from = EXCLUDED.window_from, window_to = EXCLUDED.window_to,
                         started_at = EXCLUDED.started_at, finished_at = NULL,
                         rows_written = NULL, events_without_owner = NULL, status = 'running',
                         error = NULL
                       WHERE aggregation_runs.status <> 'succeeded'""",
                    (run, window.granularity, window.start, window.end, started))
        if cur.rowcount != 1:  # inserted and succeeded by another attempt since the SELECT
            raise RunConflict(f"run {run} already succeeded: a name is used by one successful "
                              "run; give another --run-name to recompute")
    return _describe(previous) if previous is not None else None


def lock_claim(conn, run: str, started: dt.datetime) -> None:
    """In the caller's transaction: lock this attempt's row until the commit, or RunConflict
    if a newer attempt under the name took it over."""
    with conn.cursor() as cur:
        cur.execute("""SELECT 1 FROM aggregation_runs WHERE run = %s
                         AND started_at = %s AND status = 'running' FOR UPDATE""",
                    (run, started))
        if cur.fetchone() is None:
            raise RunConflict(f"run {run} was taken over by a newer attempt under "
                              "the same name; this one wrote nothing")


def mark_succeeded(conn, run: str, started: dt.datetime, written: int, orphans: int) -> None:
    """In the caller's transaction (the one that replaced the window's rows)."""
    with conn.cursor() as cur:
        cur.execute("""UPDATE aggregation_runs SET finished_at = now(),
                         rows_written = %s, events_without_owner = %s,
                         status = 'succeeded' WHERE run = %s AND started_at = %s""",
                    (written, orphans, run, started))


def mark_failed(conn, run: str, started: dt.datetime, exc: BaseException) -> None:
    """In a transaction of its own: only this attempt's row, never a newer one's."""
    with conn, conn.cursor() as cur:
        cur.execute("""UPDATE aggregation_runs SET finished_at = now(), status = 'failed',
                         error = %s WHERE run = %s AND started_at = %s
                         AND status = 'running'""", (repr(exc)[:2000], run, started))


# --- dirty dates --------------------------------------------------------------------------------
OWNERS_MARKER = dt.date(1, 1, 1)  # the aggregation_clean date that marks registry changes handled


def mark_clean(conn, granularity: str, utc_dates: set[dt.date], snapshot: dt.datetime) -> None:
    """The dates (and the owners marker) clean for the granularity as of the snapshot, in a
    transaction of their own."""
    with conn, conn.cursor() as cur:
        for d in sorted(utc_dates | {OWNERS_MARKER}):
            cur.execute("""INSERT INTO aggregation_clean (granularity, event_date, clean_as_of)
                           VALUES (%s, %s, %s) ON CONFLICT (granularity, event_date)
                           DO UPDATE SET clean_as_of = EXCLUDED.clean_as_of""",
                        (granularity, d, snapshot))
