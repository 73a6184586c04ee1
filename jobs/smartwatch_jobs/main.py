"""Entrypoints of the Spark jobs: `smartwatch land` locally, the same functions under
spark-submit in the SparkApplications."""

from __future__ import annotations

import logging
import sys

from smartwatch.db import migrate
from smartwatch.settings import Settings


def land(settings: Settings, *, available_now: bool) -> int:
    from smartwatch_jobs import landing
    from smartwatch_jobs.spark import quiet, session

    missing = [name for name in ("kafka_bootstrap", "postgres_dsn", "lake_uri", "quarantine_uri",
                                 "checkpoint_uri") if not getattr(settings, name)]
    if missing:
        print(f"smartwatch land: missing settings: {', '.join('SMARTWATCH_' + m.upper() for m in missing)}",
              file=sys.stderr)
        return 2
    assert settings.postgres_dsn and settings.kafka_bootstrap
    migrate(settings.postgres_dsn)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    spark = quiet(session("smartwatch-landing", settings, settings.landing_shuffle_partitions))
    cfg = landing.LandingConfig(
        bootstrap=settings.kafka_bootstrap, topic=settings.events_topic,
        lake=str(settings.lake_uri), quarantine=str(settings.quarantine_uri),
        checkpoint=str(settings.checkpoint_uri), postgres_dsn=settings.postgres_dsn,
        max_record_bytes=settings.landing_max_record_bytes,
        dedup_watermark=settings.landing_dedup_watermark,
        max_offsets_per_trigger=settings.landing_max_offsets_per_trigger)
    try:
        landing.run(spark, cfg, available_now=available_now,
                    trigger_seconds=settings.landing_trigger_seconds)
    finally:
        spark.stop()
    return 0
