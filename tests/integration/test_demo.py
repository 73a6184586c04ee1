"""`smartwatch demo` end to end, small (3 users, 2 days): real Kafka, Postgres, Spark,
kube-apiserver, the operator and the local SparkApplication runner. Each number of the
reconciliation line is checked against a count taken here another way (the fleet's size,
Kafka's records, the lake read by DuckDB, Postgres), every aggregate row against DuckDB over
the same lake; then a wrong row planted in Postgres makes `smartwatch demo check` say
`match: no`, naming it. A demo interrupted with Ctrl-C stops all it started."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from smartwatch.settings import Settings
from smartwatch_dev.stack import Stack
from smartwatch_dev.toolchain import REPO_ROOT
from tests.integration.jobs.aggregate_world import assert_same, expected_figures, stored_figures
from tests.kafka_reader import TopicReader

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]

USERS, DAYS = 3, 2
LINE = re.compile(
    r"^reconciliation: readings sent (?P<sent>\d+) = accepted (?P<accepted>\d+) = landed "
    r"(?P<landed>\d+) \(unique\) = counted (?P<counted>\d+) \(daily aggregates\); "
    r"(?P<resent>\d+) resent copies and (?P<late>\d+) late readings included; audit: "
    r"(?P<user_days>\d+) user-days, (?P<behind>\d+) records not landed, (?P<audit>ok|\d+ differ); rows "
    r"(?P<daily>\d+) daily, (?P<weekly>\d+) weekly, (?P<monthly>\d+) monthly vs the ground "
    r"truth: (?P<verdict>match: .*)$", re.M)


def _smartwatch(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smartwatch", *args], capture_output=True,
                          text=True, **kwargs)


def _stopped(state: Path) -> None:
    _smartwatch("stack", "down", "--state-dir", str(state), timeout=120)
    left = _smartwatch("stack", "leftovers", "--state-dir", str(state), timeout=60)
    assert left.returncode == 0, f"left running: {left.stdout}"


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[Path, subprocess.CompletedProcess[str]]]:
    state = REPO_ROOT / ".stack" / f"test-demo-{os.getpid()}"
    try:
        run = _smartwatch("demo", "--users", str(USERS), "--days", str(DAYS), "--keep-running",
                          "--state-dir", str(state), timeout=1200)
        yield state, run
    finally:
        _stopped(state)
        Stack(Settings(), state).purge()


def test_each_number_of_the_reconciliation_line_is_what_was_measured(demo) -> None:
    state, run = demo
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    found = LINE.search(run.stdout)
    assert found, run.stdout[-3000:]
    line = {k: int(v) for k, v in found.groupdict().items() if k not in ("verdict", "audit")}
    status = Stack(Settings(), state).status()
    # One reading a minute for each user, the demo's definition.
    assert line["sent"] == USERS * DAYS * 24 * 60
    # Kafka holds every copy the API accepted: the unique ones, and the resent copies.
    reader = TopicReader(status["kafka_bootstrap"], status["topics"]["events"])
    records = reader.records(dict.fromkeys(reader.mark(), 0), line["sent"] + line["resent"])
    ids = [json.loads(r.value)["event_id"] for r in records]
    assert len(ids) == line["sent"] + line["resent"]
    assert len(set(ids)) == line["accepted"]
    # The lake holds each Kafka record once (the resent copies too, until compaction), so
    # each reading.
    import duckdb

    lake = status["lake_uri"].removeprefix("file://")
    total, unique = duckdb.connect().execute(
        f"SELECT count(*), count(DISTINCT (device_id, event_id)) FROM read_parquet('{lake}/*/*.parquet', "
        "hive_partitioning = true)").fetchone()
    assert total == len(ids)
    assert unique == line["landed"] == len(set(ids))
    with psycopg2.connect(status["postgres_dsn"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT sum(readings) FROM daily_aggregates")
        assert cur.fetchone()[0] == line["counted"]
        # The late readings: sent, and landed, after the first aggregation run had started;
        # the records landed then are those Kafka received then (copies included).
        cur.execute("SELECT min(started_at) FROM aggregation_runs")
        aggregated = cur.fetchone()[0].timestamp() * 1000
        late_records = [i for r, i in zip(records, ids, strict=True) if r.timestamp > aggregated]
        cur.execute("SELECT coalesce(sum(rows), 0) FROM landing_batches WHERE landed_at > "
                    "(SELECT min(started_at) FROM aggregation_runs)")
        assert cur.fetchone()[0] == len(late_records) >= line["late"] > 0
        assert len(set(late_records)) == line["late"]
    assert line["resent"] > 0
    # Every row of every granularity, against DuckDB over the same lake.
    for granularity in ("daily", "weekly", "monthly"):
        stored = stored_figures(status["postgres_dsn"], "demo", granularity)
        assert_same(stored, expected_figures(lake, status["postgres_dsn"], "demo", granularity))
        assert len(stored) == line[granularity]
    # `smartwatch audit` of the demo's dates: every user-day (a daily row each) agrees, and
    # nothing waits in Kafka.
    assert (found["audit"], line["behind"], line["user_days"]) == ("ok", 0, line["daily"])
    assert found["verdict"] == "match: yes"
    assert (state / "report.html").exists() and "report: " in run.stdout


def test_the_aggregation_ran_through_the_operator_and_caught_the_late_readings(demo) -> None:
    state, run = demo
    status = Stack(Settings(), state).status()
    got = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "python"), "-c", (
        "import json, sys; from kubernetes import client, config\n"
        f"api = config.new_client_from_config({status['kubeconfig']!r})\n"
        "items = client.CustomObjectsApi(api).list_namespaced_custom_object("
        "'sparkoperator.k8s.io', 'v1beta2', 'smartwatch', 'sparkapplications')['items']\n"
        "print(json.dumps([[i['metadata']['labels']['smartwatch.dev/granularity'],"
        " i['spec']['arguments'], i['status']['applicationState']['state']] for i in items]))")],
        capture_output=True, text=True, check=True, timeout=60)
    runs = json.loads(got.stdout)
    for granularity in ("daily", "weekly", "monthly"):
        mine = [r for r in runs if r[0] == granularity]
        # The first landing's run, and at least one more for the late readings; all dirty.
        assert len(mine) >= 2, runs
        assert all("--dirty" in r[1] and r[2] == "COMPLETED" for r in mine), mine
    # The password stays out of the normal output.
    password = Stack(Settings(), state).status()["postgres_dsn"].split(":")[2].split("@")[0]
    assert password not in run.stdout + run.stderr
    assert "Using Spark's default log4j profile" not in run.stdout + run.stderr


def test_a_wrong_row_in_postgres_is_named_by_the_check(demo) -> None:
    state, _ = demo
    status = Stack(Settings(), state).status()
    with psycopg2.connect(status["postgres_dsn"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT user_id, local_date, total_steps FROM daily_aggregates "
                    "ORDER BY user_id, local_date LIMIT 1 OFFSET 1")
        user, day, steps = cur.fetchone()
        cur.execute("UPDATE daily_aggregates SET total_steps = total_steps + 7 "
                    "WHERE user_id = %s AND local_date = %s", (user, day))
    try:
        check = _smartwatch("demo", "check", "--state-dir", str(state), timeout=300)
        assert check.returncode == 1, check.stdout + check.stderr
        assert (f"match: no: daily {user} {day.isoformat()}: total_steps is {steps + 7}, "
                f"expected {steps}") in check.stdout
    finally:
        with psycopg2.connect(status["postgres_dsn"]) as conn, conn.cursor() as cur:
            cur.execute("UPDATE daily_aggregates SET total_steps = total_steps - 7 "
                        "WHERE user_id = %s AND local_date = %s", (user, day))
    again = _smartwatch("demo", "check", "--state-dir", str(state), timeout=300)
    assert again.returncode == 0 and "match: yes" in again.stdout, again.stdout + again.stderr


def test_ctrl_c_stops_everything_the_demo_started() -> None:
    state = REPO_ROOT / ".stack" / f"test-demo-interrupted-{os.getpid()}"
    proc = subprocess.Popen([sys.executable, "-m", "smartwatch", "demo", "--users", "2",
                             "--days", "1", "--state-dir", str(state)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 300
        for text in proc.stdout:  # until the operator and the runner run
            if "SparkApplication runner started" in text or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=180)[0]
        assert proc.returncode == 130, rest
        assert "interrupted: stopping everything the demo started" in rest
        left = _smartwatch("stack", "leftovers", "--state-dir", str(state), timeout=60)
        assert left.returncode == 0, f"left running: {left.stdout}"
    finally:
        if proc.poll() is None:
            proc.kill()
        _stopped(state)
        Stack(Settings(), state).purge()
