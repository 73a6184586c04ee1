"""AggregationSchedules whose runs really run: the operator (in-process, with an injected
clock) creates the SparkApplications, the local SparkApplication runner runs them with real
Spark against real Postgres and a real lake. Each test has a Postgres database of its own, so
that a dirty run sees only its own dirty dates. Expected figures are written by hand."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

from smartwatch.db import migrate
from smartwatch.registry import Registry
from tests.integration.jobs.landing_data import produce
from tests.k8s.chart import render
from tests.k8s.operator_env import (
    GROUP,
    JUNE,
    PLURAL,
    VERSION,
    Clock,
    condition,
    schedule_status,
    started,
    wait_for,
)

pytestmark = pytest.mark.k8s

RUN_TIMEOUT = 420  # a run is a Spark start and a job on this machine's two cores


@pytest.fixture
def own_dsn(postgres_dsn: str) -> Iterator[str]:
    """A database of the test's own on the stack's Postgres, migrated; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(postgres_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    parts = urlsplit(postgres_dsn)
    dsn = urlunsplit(parts._replace(path=f"/{name}"))
    migrate(dsn)
    try:
        yield dsn
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE {name} WITH (FORCE)")
        admin.close()


def _pg_secret(cluster, dsn: str) -> None:
    cluster.core.create_namespaced_secret(cluster.ns, {
        "metadata": {"name": "pg"}, "stringData": {"dsn": dsn}})


def test_a_schedule_with_a_wrong_lake_shows_failing_with_the_line(
        cluster, operator, runner, own_dsn, tmp_path) -> None:
    _pg_secret(cluster, own_dsn)
    wrong = f"file://{tmp_path / 'no-such-lake'}"
    clock = Clock(JUNE)
    with operator(clock):
        cluster.create_schedule("daily", lake=wrong, retry={"limit": 0, "backoffSeconds": 60})
        started(cluster, "daily")
        clock.set("2026-06-01T00:31:00+00:00")
        failing = wait_for("the run to fail", lambda: (
            c := condition(cluster, "daily", "Failing")) and c["status"] == "True" and c,
            timeout=RUN_TIMEOUT, every=1)
        message = schedule_status(cluster, "daily")["recentFailures"][-1]["message"]
    assert "smartwatch aggregate: " in message and str(tmp_path / "no-such-lake") in message
    assert failing["message"] and str(tmp_path / "no-such-lake") in json.dumps(
        schedule_status(cluster, "daily"))
    # The run failed before writing: its record says why, and no figure was written.
    with psycopg2.connect(own_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT status, error FROM aggregation_runs")
        ((state, error),) = cur.fetchall()
        cur.execute("SELECT count(*) FROM daily_aggregates")
        assert cur.fetchone() == (0,)
    conn.close()
    assert state == "failed" and str(tmp_path / "no-such-lake") in error


def test_the_default_schedules_count_a_reading_40_days_late(
        cluster, operator, runner, own_dsn, spark, kafka_bootstrap, tmp_path) -> None:
    """The chart's default schedules (daily, weekly, monthly; `mode: dirty`), as the chart
    renders them, with this test's lake and Postgres: a reading measured 40 days before the
    schedules' next runs is in the daily, weekly and monthly figures after those runs. Each
    schedule's status counts the dirty dates waiting for it: 1 once the reading is landed,
    0 after its run."""
    from smartwatch_jobs import landing
    from smartwatch_operator.dirty import DirtyCounter, postgres_query

    _pg_secret(cluster, own_dsn)
    lake = f"file://{tmp_path / 'lake'}"
    tag = uuid.uuid4().hex[:6]
    user, watch = f"{tag}-u", f"{tag}-w"
    registry = Registry(own_dsn, max_connections=1)
    try:
        registry.import_profiles([{"user_id": user, "device_id": watch,
                                   "time_zone": "Europe/Berlin", "since": "2026-01-01T00:00:00Z"}])
    finally:
        registry.close()
    # 40 days before 1 June 2026, 02:01 UTC (after all three schedules' fires that night):
    # 22 April, 02:01 UTC, 04:01 in Berlin. ISO week 17 starts on Monday 20 April.
    reading = {"schema_version": 1, "event_id": "1", "device_id": watch,
               "measured_at": "2026-04-22T02:01:00+00:00", "heart_rate_bpm": 61.0, "steps": 40,
               "sleep_state": "awake", "time_source": "offset", "time_zone": None,
               "received_at": "2026-06-01T00:10:00+00:00"}
    clock = Clock(JUNE)
    counter = DirtyCounter(postgres_query(own_dsn), (cluster.ns, "pg", "dsn"), max_age=0.5)
    with operator(clock, dirty=counter):
        for doc in render([]):
            if doc["kind"] != "AggregationSchedule":
                continue
            spec = {**doc["spec"], "lake": lake, "postgres": {"secretName": "pg", "key": "dsn"}}
            cluster.custom.create_namespaced_custom_object(GROUP, VERSION, cluster.ns, PLURAL, {
                "apiVersion": f"{GROUP}/{VERSION}", "kind": "AggregationSchedule",
                "metadata": {"name": doc["metadata"]["name"]}, "spec": spec})
        names = [s["metadata"]["name"] for s in cluster.custom.list_namespaced_custom_object(
            GROUP, VERSION, cluster.ns, PLURAL)["items"]]
        assert len(names) == 3
        for name in names:
            started(cluster, name)
            wait_for(f"{name}: nothing dirty", lambda n=name: schedule_status(cluster, n).get(
                "dirtyDates") == 0)
        topic = produce(kafka_bootstrap, [(watch.encode(), json.dumps(reading).encode())])
        landing.run(spark, landing.LandingConfig(
            bootstrap=kafka_bootstrap, topic=topic, lake=lake, quarantine=f"file://{tmp_path / 'q'}",
            checkpoint=f"file://{tmp_path / 'ckpt'}", postgres_dsn=own_dsn),
            available_now=True, trigger_seconds=1)
        for name in names:
            wait_for(f"{name}: one dirty date", lambda n=name: schedule_status(cluster, n).get(
                "dirtyDates") == 1)
        clock.set("2026-06-01T02:01:00+00:00")
        for name in names:
            wait_for(f"{name}'s run to succeed",
                     lambda n=name: schedule_status(cluster, n).get("lastSuccessfulWindow"),
                     timeout=RUN_TIMEOUT, every=1)
            wait_for(f"{name}: nothing dirty again", lambda n=name: schedule_status(cluster, n).get(
                "dirtyDates") == 0)
    with psycopg2.connect(own_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT local_date, readings, total_steps FROM daily_aggregates "
                    "WHERE user_id = %s", (user,))
        assert cur.fetchall() == [(dt.date(2026, 4, 22), 1, 40)]
        cur.execute("SELECT iso_year, iso_week, readings, total_steps FROM weekly_aggregates "
                    "WHERE user_id = %s", (user,))
        assert cur.fetchall() == [(2026, 17, 1, 40)]
        cur.execute("SELECT year, month, readings, total_steps FROM monthly_aggregates "
                    "WHERE user_id = %s", (user,))
        assert cur.fetchall() == [(2026, 4, 1, 40)]
    conn.close()
