"""Postgres stopped while an aggregation runs (the test stack's own Postgres, real Spark): the
run exits non-zero and the window's earlier rows stay as they were; after Postgres is back, a
rerun gives the figures DuckDB computes from the same lake. Meanwhile the API answers a
registry miss with 503 and Retry-After, and serves again by itself once Postgres is back."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import psycopg2
import pytest

from smartwatch.periods import align
from smartwatch.registry import Registry
from smartwatch_dev.stack.process import stop
from tests.figures import record
from tests.integration.api.helpers import device_client, new_device
from tests.integration.jobs.aggregate_world import (
    OWNER,
    ZONES,
    assert_same,
    expected_figures,
    land_events,
    stored_figures,
    world_events,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def _aggregate(stack, lake, run: str) -> subprocess.Popen:
    env = {**os.environ, "SMARTWATCH_POSTGRES_DSN": stack.postgres_dsn(),
           "SMARTWATCH_LAKE_URI": f"file://{lake}"}
    return subprocess.Popen([sys.executable, "-m", "smartwatch", "aggregate", "--granularity",
                             "daily", "--from", "2026-10-20", "--to", "2026-11-10",
                             "--run-name", run], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _run_state(dsn: str, run: str) -> str | None:
    with psycopg2.connect(dsn, connect_timeout=2) as conn, conn.cursor() as cur:
        cur.execute("SELECT status FROM aggregation_runs WHERE run = %s", (run,))
        row = cur.fetchone()
        return row[0] if row else None


def test_postgres_stopped_during_a_run(stack, api, spark, kafka_bootstrap, tmp_path) -> None:
    from smartwatch_jobs import aggregate as agg

    dsn = stack.postgres_dsn()
    tag = f"pg{uuid.uuid4().hex[:6]}"
    registry = Registry(dsn, max_connections=1)
    registry.import_profiles([{"user_id": f"{tag}-{OWNER[s]}", "device_id": f"{tag}-{s}",
                               "time_zone": ZONES[s]} for s in ZONES if s != "d"])
    registry.close()
    # The world's readings of late October and early November 2026 (a DST end in it), well
    # inside the window the runs compute.
    events = [e for e in world_events(tag, seed=5)
              if "2026-10-22" <= e["measured_at"][:10] <= "2026-11-08"]
    first = [e for e in events if e["measured_at"] < "2026-11-01"]
    land_events(spark, kafka_bootstrap, tmp_path,
          [(e["device_id"].encode(), json.dumps(e).encode()) for e in first], dsn, "pg-1")
    lake = tmp_path / "lake"
    window = align("daily", dt.date(2026, 10, 20), dt.date(2026, 11, 10))
    agg.run_window(spark, f"file://{lake}", dsn, window, f"{tag}-before")
    before = stored_figures(dsn, tag, "daily")
    assert before
    # More readings land, then a run of the same window starts and Postgres stops under it.
    land_events(spark, kafka_bootstrap, tmp_path,
          [(e["device_id"].encode(), json.dumps(e).encode()) for e in events if e not in first],
          dsn, "pg-2")
    device, token = new_device(api)
    run = f"{tag}-during"
    proc = _aggregate(stack, lake, run)
    deadline = time.monotonic() + 300
    while _run_state(dsn, run) != "running":
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # Stopped as a server goes down (fast shutdown), its record kept: it comes back on its
    # port, as a database server does, so the API's DSN stays right.
    pid = int(json.loads(stack.file.read_text())["postgres"]["pid"])
    stop(pid, None, sig=signal.SIGINT)
    stopped = time.monotonic()
    try:
        out = proc.communicate(timeout=300)[0]
        assert proc.returncode != 0, out
        assert "smartwatch aggregate" in out or "Error" in out, out
        # A registry miss (a device token the API has not cached) while Postgres is down.
        with device_client(api, f"never-seen-{uuid.uuid4().hex}") as client:
            r = client.post("/v1/events", json=[{"event_id": "x", "device_id": device,
                                                 "measured_at": "2026-11-02T10:00:00Z",
                                                 "steps": 1}])
        assert r.status_code == 503 and r.headers.get("retry-after"), r.text
    finally:
        stack.up(only=("postgres",))
    back = time.monotonic()
    # The API serves again by itself.
    deadline = time.monotonic() + 60
    while True:
        with device_client(api, token) as client:
            r = client.post("/v1/events", json=[{"event_id": f"{tag}-back", "device_id": device,
                                                 "measured_at": "2026-11-02T10:00:00Z",
                                                 "steps": 1}])
        if r.status_code == 200:
            break
        assert time.monotonic() < deadline, r.text
        time.sleep(0.5)
    record("API serving again after Postgres came back", f"{time.monotonic() - back:.1f} s "
           f"(Postgres was down {back - stopped:.1f} s)")
    assert stored_figures(dsn, tag, "daily") == before  # the failed run wrote nothing
    assert _run_state(dsn, run) in ("running", "failed"), _run_state(dsn, run)
    rerun = _aggregate(stack, lake, run)  # the same name: a run that never finished
    out = rerun.communicate(timeout=300)[0]
    assert rerun.returncode == 0, out
    assert_same(stored_figures(dsn, tag, "daily"), expected_figures(lake, dsn, tag, "daily"))
