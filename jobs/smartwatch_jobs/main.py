"""What the Spark jobs run, once their command line is parsed (`commands`, which declares
each job's arguments and the settings it needs): the same functions under spark-submit in a
pod and through the `smartwatch` CLI on a developer's machine."""

from __future__ import annotations

import logging
import sys

from smartwatch.db import migrate
from smartwatch.settings import Settings


def _missing(job: str, settings: Settings) -> int:
    """2, with one line naming the settings the job needs and lacks (commands.JOBS); else 0."""
    from smartwatch_jobs.commands import JOBS, missing

    return missing(JOBS[job], settings)


def _postgres_ready(command: str, dsn: str) -> int:
    """1, with one line, if Postgres cannot be reached; else 0, with the migrations applied."""
    from smartwatch.registry import connect_check

    try:
        connect_check(dsn)
    except RuntimeError as exc:
        print(f"smartwatch {command}: {exc}", file=sys.stderr)
        return 1
    migrate(dsn)
    return 0


def land(settings: Settings, *, available_now: bool) -> int:
    from smartwatch_jobs import landing
    from smartwatch_jobs.spark import quiet, session

    refused = _missing("land", settings)
    if refused:
        return refused
    assert settings.postgres_dsn and settings.kafka_bootstrap
    migrate(settings.postgres_dsn)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # py4j tells at INFO of every call from the JVM (each micro-batch): only its warnings.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    spark = quiet(session("smartwatch-landing", settings, settings.landing_shuffle_partitions))
    cfg = landing.LandingConfig(
        bootstrap=settings.kafka_bootstrap, topic=settings.events_topic,
        lake=str(settings.lake_uri), quarantine=str(settings.quarantine_uri),
        checkpoint=str(settings.checkpoint_uri), postgres_dsn=settings.postgres_dsn,
        max_record_bytes=settings.landing_max_record_bytes,
        max_offsets_per_trigger=settings.landing_max_offsets_per_trigger,
        kafka_options=settings.kafka_spark_options(),
        metrics_port=settings.landing_metrics_port,
        lag_interval_seconds=settings.landing_lag_interval_seconds,
        client_options=settings.kafka_client_options())
    try:
        landing.run(spark, cfg, available_now=available_now,
                    trigger_seconds=settings.landing_trigger_seconds)
    finally:
        spark.stop()
    return 0


def compact(settings: Settings, start, end, target_mib: int) -> int:
    from smartwatch_jobs import compact as compaction
    from smartwatch_jobs.spark import quiet, session

    if start > end:
        print(f"smartwatch compact: --from {start} is after --to {end}", file=sys.stderr)
        return 2
    if _missing("compact", settings):
        return 2
    try:
        compaction.local_path(str(settings.lake_uri))
    except ValueError as exc:
        print(f"smartwatch compact: {exc}", file=sys.stderr)
        return 2
    spark = quiet(session("smartwatch-compaction", settings, settings.landing_shuffle_partitions))
    try:
        results = compaction.compact(spark, str(settings.lake_uri), str(settings.checkpoint_uri),
                                     start, end, target_mib * 1024 * 1024)
    finally:
        spark.stop()
    for r in results:
        print(f"{r.date}: {r.files_before} files -> {r.files_after} ({r.rows} rows, "
              f"{r.copies_dropped} later copies of a reading dropped)")
    if not results:
        print("nothing to compact in that range")
    return 0


def aggregate(settings: Settings, granularity: str, start, end, dirty: bool,
              run_name: str | None = None) -> int:
    """`smartwatch aggregate`: one window, or the dirty windows. An invalid window or run name
    exits 2 with one line before Spark starts; Postgres unreachable exits 1 and writes nothing;
    a run name whose run already succeeded exits 1 and writes nothing; a lake URI that names
    no lake of this project exits 1 with one line naming it, and replaces nothing
    (docs/aggregation.md)."""
    from smartwatch import periods
    from smartwatch_jobs import aggregate as agg

    try:
        window = None if dirty else periods.align(granularity, start, end)
        if run_name is not None:
            agg.check_run_name(run_name)
    except (periods.WindowError, agg.RunNameError) as exc:
        print(f"smartwatch aggregate: {exc}", file=sys.stderr)
        return 2
    refused = _refused(settings, run_name if window is not None else None)
    if refused:
        return refused
    assert settings.postgres_dsn
    if window is None and not agg.anything_dirty(settings.postgres_dsn, granularity):
        print(f"no dirty {granularity} windows")  # and no Spark started
        return 0
    from smartwatch_jobs.spark import quiet, session

    spark = quiet(session(f"smartwatch-aggregate-{granularity}", settings,
                          settings.landing_shuffle_partitions))
    try:
        if window is None:
            results = agg.run_dirty(spark, str(settings.lake_uri), settings.postgres_dsn,
                                    granularity, run_name)
        else:
            results = [agg.run_window(spark, str(settings.lake_uri), settings.postgres_dsn,
                                      window, run_name)]
    except (agg.RunConflict, agg.LakeError) as exc:
        # A lake that is missing, unreadable or not a lake: nothing was replaced, and the
        # window's run record says why (docs/aggregation.md, "A lake that identifies itself").
        print(f"smartwatch aggregate: {exc}", file=sys.stderr)
        return 1
    finally:
        spark.stop()
    for r in results:
        replaced = f" (replaces an earlier attempt under that name: {r.replaced})" if r.replaced \
            else ""
        print(f"{r.window.granularity} {r.window.start}..{r.window.end}: {r.rows} rows "
              f"({r.events_without_owner} events of devices without owner skipped), "
              f"run {r.run}{replaced}")
    if not results:
        print(f"no dirty {granularity} windows")
    return 0


def _refused(settings: Settings, run_name: str | None) -> int:
    """Before Spark starts: 2 (with one line) if the settings lack Postgres or the lake, 1 if
    Postgres is unreachable or `run_name` (a one-window run's) already succeeded; else 0,
    with the migrations applied."""
    import psycopg2

    from smartwatch_jobs import aggregate as agg

    if _missing("aggregate", settings):
        return 2
    assert settings.postgres_dsn
    if _postgres_ready("aggregate", settings.postgres_dsn):
        return 1
    if run_name is not None:  # dirty runs check their windows' names
        conn = psycopg2.connect(settings.postgres_dsn)
        try:
            with conn:
                agg.refuse_succeeded(conn, [run_name])
        except agg.RunConflict as exc:
            print(f"smartwatch aggregate: {exc}", file=sys.stderr)
            return 1
        finally:
            conn.close()
    return 0


def audit(settings: Settings, first, last, *, as_json: bool = False) -> int:
    """`smartwatch audit`: 0 if every user-day of [first, last] agrees and nothing was lost,
    1 otherwise (each difference named), 1 with one line if Postgres or the lake cannot be
    read, 2 if a setting is missing. Kafka unreachable is reported, and the rest still
    audited, with exit 1: a lag that cannot be measured proves nothing."""
    import json

    import psycopg2

    from smartwatch import lag
    from smartwatch_jobs import audit as auditing
    from smartwatch_jobs.lakeroot import LakeError

    refused = _missing("audit", settings)
    if refused:
        return refused
    assert settings.postgres_dsn and settings.kafka_bootstrap
    if _postgres_ready("audit", settings.postgres_dsn):
        return 1

    parts: list[lag.PartitionLag] | None = None
    lag_error = None
    try:
        with psycopg2.connect(settings.postgres_dsn) as conn:
            landed = lag.landed_offsets(conn, settings.events_topic)
        conn.close()
        parts = lag.measure(settings.kafka_bootstrap, settings.events_topic, landed,
                            settings.kafka_client_options())
    except lag.LagError as exc:
        lag_error = str(exc)
    from smartwatch_jobs.spark import quiet, session

    spark = quiet(session("smartwatch-audit", settings, settings.landing_shuffle_partitions))
    try:
        report = auditing.audit(spark, str(settings.lake_uri), settings.postgres_dsn, first,
                                last, parts, lag_error)
    except LakeError as exc:
        print(f"smartwatch audit: {exc}", file=sys.stderr)
        return 1
    finally:
        spark.stop()
    if as_json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print("\n".join(report.lines()))
    if not report.ok:
        print(f"smartwatch audit: {report.lines()[-1].removeprefix('audit: ')}", file=sys.stderr)
    return 0 if report.ok and lag_error is None else 1
