"""Profiles whose zone is written `timezone` or `tz` give the same aggregates as profiles with
`time_zone`: two copies of the same readings (users in four zones, DST changes), one imported
each way, landed through real Kafka and aggregated by Spark. The `time_zone` copy is checked
against DuckDB over the same lake, the other copy against it, user for user; a zone that was
dropped (every owner in UTC) would move readings to other local dates and fail both."""

from __future__ import annotations

import json
import uuid

import pytest

from smartwatch.db import migrate
from smartwatch.periods import GRANULARITIES, align
from smartwatch.registry import Registry
from tests.integration.jobs.aggregate_world import (
    OWNER,
    WINDOW,
    ZONES,
    assert_same,
    expected_figures,
    land_events,
    stored_figures,
    world_events,
)

pytestmark = pytest.mark.integration


def _without_tag(rows: dict[tuple, dict], tag: str) -> dict[tuple, dict]:
    return {(key[0].removeprefix(f"{tag}-"), *key[1:]): row for key, row in rows.items()}


def test_timezone_and_tz_give_the_aggregates_time_zone_gives(spark, kafka_bootstrap, postgres_dsn,
                                                               tmp_path) -> None:
    from smartwatch_jobs import aggregate as agg

    migrate(postgres_dsn)
    plain, spelled = f"z{uuid.uuid4().hex[:6]}", f"y{uuid.uuid4().hex[:6]}"
    owned = [s for s in ZONES if s != "d"]  # "d" has no owner in the world
    registry = Registry(postgres_dsn, max_connections=1)
    counts = [registry.import_profiles([{"user_id": f"{plain}-{OWNER[s]}",
                                         "device_id": f"{plain}-{s}", "time_zone": ZONES[s]}
                                        for s in owned]),
              registry.import_profiles([{"user_id": f"{spelled}-{OWNER[s]}",
                                         "device_id": f"{spelled}-{s}",
                                         ("tz" if s == "c" else "timezone"): ZONES[s],
                                         "nickname": s} for s in owned])]
    registry.close()
    assert counts[0]["ignored_keys"] == {}
    assert counts[1]["ignored_keys"] == {"nickname": len(owned)}
    records = [(e["device_id"].encode(), json.dumps(e).encode())
               for tag in (plain, spelled) for e in world_events(tag, seed=11)]
    land_events(spark, kafka_bootstrap, tmp_path, records, postgres_dsn, "spellings")
    lake = tmp_path / "lake"
    for granularity in GRANULARITIES:
        agg.run_window(spark, f"file://{lake}", postgres_dsn, align(granularity, *WINDOW))
        baseline = stored_figures(postgres_dsn, plain, granularity)
        assert baseline
        assert_same(baseline, expected_figures(lake, postgres_dsn, plain, granularity))
        assert_same(_without_tag(stored_figures(postgres_dsn, spelled, granularity), spelled),
                     _without_tag(baseline, plain))
