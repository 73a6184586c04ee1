"""The landing job killed (SIGKILL, its whole process group) twice in the middle of a batch,
then run to the end: each valid Kafka record is in the lake exactly once, every junk record
in quarantine, and the dates' counts in Postgres are those of the lake. Real Kafka and Spark,
the job as `smartwatch land --available-now` processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from smartwatch.db import migrate
from tests.integration.jobs.landing_data import junk, kafka_records, make_events, produce
from tests.integration.jobs.test_landing import (
    assert_each_record_once,
    landed_counts,
    read_lake,
    read_quarantine,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]


def _land_process(env: dict, state: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "smartwatch", "land", "--available-now",
                             "--state-dir", state], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _published(lake: Path) -> int:
    return len(list(lake.glob("event_date=*/part-*.parquet")))


def _kill_mid_batch(env: dict, state: str, lake: Path) -> None:
    """Start the job, wait until it published a batch of its own and has a later one half-way
    (its files staged, not yet published), then SIGKILL it."""
    before = _published(lake)
    proc = _land_process(env, state)
    try:
        deadline = time.monotonic() + 300
        while _published(lake) <= before:
            assert proc.poll() is None and time.monotonic() < deadline, "no batch published"
            time.sleep(0.05)
        staging = lake / "_staging"
        while not (staging.exists() and any(staging.glob("*"))):
            assert proc.poll() is None and time.monotonic() < deadline, "no batch in flight"
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)


def test_killed_twice_mid_batch_then_each_record_lands_once(kafka_bootstrap, postgres_dsn,
                                                           tmp_path, stack) -> None:
    migrate(postgres_dsn)
    # 2016: the landing tests' dirty-date checks count only their own year's dates.
    events, produced = make_events(n_devices=6, per_device=600, seed=3, year=2016)
    bad = junk(max_bytes=4096)
    topic = produce(kafka_bootstrap, kafka_records(produced, bad))
    lake, quarantine, ckpt = tmp_path / "lake", tmp_path / "q", tmp_path / "ckpt"
    env = {**os.environ, "SMARTWATCH_KAFKA_BOOTSTRAP": kafka_bootstrap,
           "SMARTWATCH_POSTGRES_DSN": postgres_dsn, "SMARTWATCH_EVENTS_TOPIC": topic,
           "SMARTWATCH_LAKE_URI": f"file://{lake}", "SMARTWATCH_QUARANTINE_URI": quarantine.as_uri(),
           "SMARTWATCH_CHECKPOINT_URI": ckpt.as_uri(), "SMARTWATCH_SPARK_MASTER": "local[2]",
           "SMARTWATCH_LANDING_MAX_OFFSETS_PER_TRIGGER": "300",
           "SMARTWATCH_LANDING_MAX_RECORD_BYTES": "4096"}
    partial = []
    for _ in range(2):
        _kill_mid_batch(env, str(stack.state), lake)
        partial.append(len(read_lake(lake)))
    assert 0 < partial[0] < partial[1] < len(events), f"the kills came too late: {partial}"
    assert _land_process(env, str(stack.state)).wait(timeout=600) == 0
    rows = assert_each_record_once(lake, produced, events)
    assert len(read_quarantine(quarantine)) == len(bad)
    landing_id = (ckpt / "smartwatch-landing-id").read_text().strip()
    assert landed_counts(postgres_dsn, landing_id) == dict(Counter(r["event_date"] for r in rows))
