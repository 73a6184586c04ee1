"""The aggregation job: one window, or the windows dirty dates touch. Ties the lake, the
figures, the store and the run bookkeeping together; each run replaces exactly its window's
rows in one transaction, with the run's success."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from smartwatch.periods import Window, merge_windows
from smartwatch_jobs.aggregate.compute import figures
from smartwatch_jobs.aggregate.lake import dates_of_devices, read_events
from smartwatch_jobs.aggregate.runs import (
    RunResult,
    changed_devices,
    claim_run,
    dirty_utc_dates,
    lock_claim,
    mark_clean,
    mark_failed,
    mark_succeeded,
    new_run_name,
    refuse_succeeded,
    window_run_name,
)
from smartwatch_jobs.aggregate.store import (
    csv_and_orphans,
    ensure_partitions,
    load_owners,
    replace_window,
    replace_window_jdbc,
)
from smartwatch_jobs.aggregate.transforms import in_window, utc_text


def run_window(spark: SparkSession, lake: str, dsn: str, window: Window,
               run: str | None = None, load: str | None = None) -> RunResult:
    """Compute one window and replace its rows; the run is recorded in aggregation_runs under
    `run` (default: a new unique name; an existing name: see claim_run).
    `load`: "copy" (the figures collected to the driver as Arrow, then COPY) or "jdbc" (Spark's
    JDBC writer). By default COPY when Spark runs in this process (local master: its tasks run
    in this process too), JDBC on a cluster, where the figures stay on the executors."""
    import psycopg2

    load = load or ("copy" if (spark.sparkContext.master or "").startswith("local") else "jdbc")
    run = run or new_run_name(window)
    started = dt.datetime.now(dt.UTC)
    conn = psycopg2.connect(dsn)
    try:
        with conn:
            ensure_partitions(conn, window.start.year - 1, window.end.year + 1)
        replaced = claim_run(conn, run, window, started)
        try:
            csv, orphans, result = _computed(spark, lake, conn, window, run, started, load)
            with conn:  # one transaction: the window's rows and the run's success
                lock_claim(conn, run, started)  # still ours? (locked until the commit)
                if load == "jdbc" and result is not None:
                    written = replace_window_jdbc(conn, window, result, dsn, run, started)
                else:
                    written = replace_window(conn, window, csv)
                mark_succeeded(conn, run, started, written, orphans)
        except BaseException as exc:
            conn.rollback()
            mark_failed(conn, run, started, exc)
            raise
        finally:
            spark.catalog.clearCache()
    finally:
        conn.close()
    return RunResult(run, window, written, orphans, replaced)


def _computed(spark: SparkSession, lake: str, conn, window: Window, run: str,
              started: dt.datetime, load: str) -> tuple[bytes, int, DataFrame | None]:
    """The window's figures, ready for the load: as CSV for "copy", as a DataFrame (over
    cached figures) for "jdbc"; and the readings of devices without owner."""
    first, last = window.utc_dates
    events = read_events(spark, lake, first, last)
    with conn:
        owners = load_owners(spark, conn)
    if events is None:
        return b"", 0, None
    found = utc_text(figures(events, owners, window))
    if load == "copy":
        csv, orphans = csv_and_orphans(found.toArrow(), window, run, started)
        return csv, orphans, None
    found = found.persist()  # cache the figures (one row per user and period), not the events
    total = found.filter(F.col("user_id").isNull()).agg(F.sum("readings")).first()
    assert total is not None  # a global aggregate has one row
    return b"", total[0] or 0, in_window(found, window)


def anything_dirty(dsn: str, granularity: str) -> bool:
    """Whether a dirty run of `granularity` has anything to do (dirty dates, or devices with
    a new owner): asked before Spark starts, so a run with nothing to do starts none."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn:
            dirty, _ = dirty_utc_dates(conn, granularity)
            return bool(dirty) or bool(changed_devices(conn, granularity))
    finally:
        conn.close()


def run_dirty(spark: SparkSession, lake: str, dsn: str, granularity: str,
              run: str | None = None) -> list[RunResult]:
    """Recompute only the windows that dirty dates (and newly owned devices) touch, then
    mark those dates clean as of the snapshot taken before reading. With `run`, each window's
    run is named window_run_name(run, window); if one of those names already succeeded, the
    run is refused (RunConflict) before any window is written."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn:
            dirty, snapshot = dirty_utc_dates(conn, granularity)
            devices = changed_devices(conn, granularity)
        utc_dates = set(dirty) | set(dates_of_devices(spark, lake, devices))
        local = {d + dt.timedelta(days=k) for d in utc_dates for k in (-1, 0, 1)}
        windows = merge_windows(granularity, local)
        names = [window_run_name(run, w) if run else None for w in windows]
        if run:
            with conn:
                refuse_succeeded(conn, [n for n in names if n])
        results = [run_window(spark, lake, dsn, w, n) for w, n in zip(windows, names, strict=True)]
        mark_clean(conn, granularity, utc_dates, snapshot)
        return results
    finally:
        conn.close()
