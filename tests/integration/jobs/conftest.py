"""The jobs tests' shared fixture: the aggregation world, made once for the modules that use
it (test_aggregate.py, then test_aggregate_runs.py, which builds on its state)."""

from __future__ import annotations

import json
import random
import uuid

import pytest

from smartwatch.db import migrate
from smartwatch.periods import GRANULARITIES, align
from smartwatch.registry import Registry
from tests.integration.jobs.aggregate_world import OWNER, WINDOW, ZONES, land_events, world_events


@pytest.fixture(scope="package")
def world(spark, kafka_bootstrap, postgres_dsn, tmp_path_factory):
    from smartwatch_jobs import aggregate as agg

    migrate(postgres_dsn)
    tmp = tmp_path_factory.mktemp("agg")
    tag = f"t{uuid.uuid4().hex[:6]}"
    registry = Registry(postgres_dsn, max_connections=1)
    registry.import_profiles([{"user_id": f"{tag}-{OWNER[s]}", "device_id": f"{tag}-{s}",
                               "time_zone": ZONES[s]} for s in ZONES if s != "d"])
    registry.close()
    events = world_events(tag, seed=5)
    resent = random.Random(6).sample(events, len(events) // 20)
    land_events(spark, kafka_bootstrap, tmp, [(e["device_id"].encode(), json.dumps(e).encode())
                                        for e in events + resent], postgres_dsn, "first")
    # Resent once more, received later and with other values (a second landing job, with a
    # checkpoint of its own): of each id, only the first received copy may count.
    again = [{**e, "steps": 1 + (e["steps"] or 0), "heart_rate_bpm": 200.0,
              "sleep_state": "deep", "received_at": "2026-11-28T00:05:00+00:00"}
             for e in random.Random(7).sample(events, len(events) // 20)]
    land_events(spark, kafka_bootstrap, tmp, [(e["device_id"].encode(), json.dumps(e).encode())
                                        for e in again], postgres_dsn, "again")
    lake = tmp / "lake"
    runs = {g: agg.run_window(spark, f"file://{lake}", postgres_dsn, align(g, *WINDOW))
            for g in GRANULARITIES}
    return {"tag": tag, "lake": lake, "tmp": tmp, "runs": runs, "events": events}


