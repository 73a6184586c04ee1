"""The simulator's output round-trips through the API into Kafka, and its ground-truth file
matches an independent computation (DuckDB, with the owners' zones from the registry) over
the events read back from the topic."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import psycopg2
import pytest

from tests.kafka_reader import TopicReader

pytestmark = pytest.mark.integration


def _simulate(api, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smartwatch", "simulate", "--state-dir",
                           api["state_dir"], *args], capture_output=True, text=True, timeout=600)


def _independent_truth(events: list[dict], dsn: str, tmp: Path) -> list[dict]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT d.device_id, u.user_id, u.time_zone FROM devices d "
                    "JOIN users u USING (user_id)")
        owners = cur.fetchall()
    path = tmp / "events.ndjson"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    db = duckdb.connect()
    db.execute("CREATE TABLE owners (device_id VARCHAR, user_id VARCHAR, time_zone VARCHAR)")
    db.executemany("INSERT INTO owners VALUES (?, ?, ?)", owners)
    rows = db.execute(f"""
        WITH e AS (
            SELECT device_id, CAST(measured_at AS TIMESTAMPTZ) AS at, heart_rate_bpm AS hr, steps,
                   sleep_state IN ('light', 'deep', 'rem', 'asleep') AS asleep
            FROM read_json('{path}', columns = {{device_id: 'VARCHAR', measured_at: 'VARCHAR',
                 heart_rate_bpm: 'DOUBLE', steps: 'BIGINT', sleep_state: 'VARCHAR'}}))
        SELECT o.user_id, CAST(CAST(timezone(o.time_zone, e.at) AS DATE) AS VARCHAR) AS local_date,
               o.time_zone, count(*) AS readings, sum(steps) AS steps,
               CAST(sum(hr) AS BIGINT) AS hr_sum, count(hr) AS hr_count,
               CAST(coalesce(sum(hr) FILTER (WHERE asleep), 0) AS BIGINT) AS sleep_hr_sum,
               count(hr) FILTER (WHERE asleep) AS sleep_hr_count
        FROM e JOIN owners o USING (device_id)
        GROUP BY ALL ORDER BY 1, 2""").fetchall()
    cols = ["user_id", "local_date", "time_zone", "readings", "steps", "hr_sum", "hr_count",
            "sleep_hr_sum", "sleep_hr_count"]
    return [dict(zip(cols, r, strict=True)) for r in rows]


@pytest.mark.parametrize("shape", ["canonical", "legacy-a", "legacy-b"])
def test_simulated_fleet_round_trips_and_ground_truth_holds(api, tmp_path, shape) -> None:
    prefix = f"t{uuid.uuid4().hex[:6]}"
    reader = TopicReader(api["bootstrap"], api["events_topic"])
    since = reader.mark()
    truth_file = tmp_path / "truth.ndjson"
    # 6 watches in 3 zones over 3 days around a DST change, one reading every 10 minutes.
    done = _simulate(api, "--devices", "6", "--days", "3", "--cadence", "600", "--dst",
                     "--zones", "America/New_York,Europe/Berlin,Asia/Tokyo", "--shape", shape,
                     "--prefix", prefix, "--ground-truth", str(truth_file), "--batch", "100")
    assert done.returncode == 0, done.stderr
    expected_count = 6 * 3 * 24 * 6
    assert f"sent {expected_count} events (0 rejected" in done.stdout
    records = [r for r in reader.records(since, expected_count, timeout=60)
               if r.key.decode().startswith(prefix)]
    events = [json.loads(r.value) for r in records]
    assert len(events) == expected_count
    assert len({e["event_id"] for e in events}) == expected_count
    truth = [json.loads(line) for line in truth_file.read_text().splitlines()]
    independent = [r for r in _independent_truth(events, api["dsn"], tmp_path)
                   if r["user_id"].startswith(prefix)]
    assert truth == independent
    # Three zones, and a day of 23 or 25 hours in the range (the DST change).
    assert {r["time_zone"] for r in truth} == {"America/New_York", "Europe/Berlin", "Asia/Tokyo"}


def test_same_seed_same_readings(api, tmp_path) -> None:
    outs = []
    for run in range(2):
        out = tmp_path / f"run{run}.ndjson"
        done = _simulate(api, "--devices", "3", "--days", "1", "--cadence", "900", "--seed", "7",
                         "--start", "2026-03-01", "--output", str(out))
        assert done.returncode == 0, done.stderr
        outs.append(out.read_text())
    assert outs[0] == outs[1] and outs[0].count("\n") == 3 * 96
    other = tmp_path / "other.ndjson"
    _simulate(api, "--devices", "3", "--days", "1", "--cadence", "900", "--seed", "8",
              "--start", "2026-03-01", "--output", str(other))
    assert other.read_text() != outs[0]


def test_replay_of_a_prototype_data_file(api, tmp_path) -> None:
    device = f"proto-{uuid.uuid4().hex[:6]}"
    data = [{"Device ID": device, "Heart Rate": 60 + i, "Step Count": i, "Sleeping State": "awake",
             "date": f"2026-02-01 10:{i:02d}:00.000"} for i in range(30)]
    data += [{"device_id": device, "hr": 70, "steps": 1, "state": False,
              "timestamp": 1769940000 + i} for i in range(5)]
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data))
    reader = TopicReader(api["bootstrap"], api["events_topic"])
    since = reader.mark()
    done = _simulate(api, "--replay", str(path))
    assert done.returncode == 0, done.stderr
    assert "replayed 35 events of 1 devices: 35 accepted, 0 rejected" in done.stdout
    got = [json.loads(r.value) for r in reader.records(since, 35) if r.key == device.encode()]
    assert sorted(e["steps"] for e in got) == sorted(list(range(30)) + [1] * 5)
