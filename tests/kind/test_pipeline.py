"""The pipeline on the real kind cluster through spark-operator: the chart (ci/kind.yaml and
ci/kind-spark.yaml) with spark-operator running, readings sent through the API, the landing
SparkApplication streaming them into the lake on the object store, and the operator, in its
pod, turning a backfill of each of the chart's schedules (daily, weekly, monthly) into
SparkApplications that spark-operator runs; the rows in the in-cluster Postgres equal the
simulator's ground truth, computed here from what was sent."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from collections.abc import Iterator

import pytest

from smartwatch.simulate.fleet import Fleet, GroundTruth
from smartwatch.simulate.send import Sender, register, send_all
from smartwatch.stack import images
from smartwatch.stack.cluster import Cluster
from smartwatch.stack.release import CHART, KIND_VALUES, Release
from tests.k8s.operator_env import wait_for
from tests.kind import spark_operator
from tests.kind.chart_release import Installed, port_forward
from tests.kind.conftest import Kube

pytestmark = pytest.mark.kind

SPARK_VALUES = CHART / "ci" / "kind-spark.yaml"
DAYS = ("2026-03-28", "2026-03-29")  # the night of Europe's change to summer time


@pytest.fixture(scope="module")
def pipeline(kind_cluster: Cluster) -> Iterator[Installed]:
    spark_operator.install(kind_cluster)
    namespace = f"p-{uuid.uuid4().hex[:8]}"
    kube = Kube(kind_cluster, namespace)
    release = Release(kind_cluster, "smartwatch", namespace)
    refs = images.build_all(kind_cluster, report=print)
    try:
        notes, seconds = release.install(refs, values=(KIND_VALUES, SPARK_VALUES), timeout=600)
        print(f"helm install with ci/kind.yaml and ci/kind-spark.yaml: Ready in {seconds:.0f} s")
        yield Installed(release, refs, notes, seconds, kube)
    finally:
        release.helm("uninstall", release.name, "--wait", "--timeout", "300s", check=False)
        kube("delete", "namespace", namespace, "--wait=false", namespaced=False, check=False)


def psql(installed: Installed, sql: str) -> list[list[str]]:
    """Rows of a query, run with psql in the Postgres pod."""
    pod = f"{installed.name('StatefulSet', 'postgres')}-0"
    secret = installed.name("Secret", "postgres")
    password = installed.secret(secret, "password")
    done = installed.kube("exec", pod, "--", "env", f"PGPASSWORD={password}", "psql", "-h",
                          "127.0.0.1", "-U", "smartwatch", "-d", "smartwatch", "-tAF", "\t",
                          "-c", sql)
    return [line.split("\t") for line in done.stdout.splitlines() if line]


def app_state(installed: Installed, name: str) -> str:
    got = installed.kube("get", "sparkapplication", name, "-o", "json", check=False)
    if got.returncode != 0:
        return ""
    return str(json.loads(got.stdout).get("status", {}).get("applicationState", {})
               .get("state", ""))


@pytest.fixture(scope="module")
def sent(pipeline: Installed) -> GroundTruth:
    """Six watches in three zones for the two days, every 10 minutes, in the three shapes,
    with a tenth of the batches sent twice (resends): what the aggregates must show."""
    landing = installed_landing(pipeline)
    wait_for("the landing job running", lambda: app_state(pipeline, landing) == "RUNNING", 600,
             every=5)
    fleet = Fleet(devices=6, days=2, cadence=600, prefix=f"p{uuid.uuid4().hex[:4]}", seed=3,
                  start=dt.datetime.fromisoformat(DAYS[0]),
                  zones=("Europe/Berlin", "America/New_York", "Asia/Tokyo"))
    users, stream = fleet.stream(fleet.first_instant())
    truth = GroundTruth()
    shapes = ("canonical", "legacy-a", "legacy-b")
    by_device: dict[str, list[dict]] = {}
    for r in stream:
        truth.add(r)
        shape = shapes[users.index(r.user) % 3]
        by_device.setdefault(r.user.device_id, []).append(r.as_shape(shape))
    batches = [(d, evs[i:i + 40]) for d, evs in by_device.items() for i in range(0, len(evs), 40)]
    batches += batches[::10]  # resends
    svc = pipeline.find("Service", "api")
    with port_forward(pipeline.kube, f"svc/{svc['metadata']['name']}",
                      int(svc["spec"]["ports"][0]["port"])) as url:
        tokens = asyncio.run(register(url, pipeline.admin_token(), users))
        sender = Sender(url, tokens, concurrency=2, quiet=True)
        asyncio.run(send_all(sender, batches))
    assert sender.rejected == 0
    return truth


def installed_landing(installed: Installed) -> str:
    return next(o["metadata"]["name"] for o in installed.objects()
                if o["kind"] == "SparkApplication")


def test_the_landing_job_lands_every_reading_once(pipeline: Installed, sent: GroundTruth) -> None:
    readings = sum(row["readings"] for row in sent.rows.values())

    def landed() -> int:
        rows = psql(pipeline, "SELECT coalesce(sum(rows), 0) FROM landing_batches")
        return int(rows[0][0]) >= readings

    wait_for(f"{readings} readings landed", landed, 600, every=5)
    driver = pipeline.kube.json("pods", "-l", "spark-role=driver")["items"]
    executors = pipeline.kube.json("pods", "-l", "spark-role=executor")["items"]
    assert driver and executors, "the landing job runs as a driver and executor pods"


#: Each granularity's table, the key of its rows, and the period a local date falls in.
TABLES = {
    "daily": ("daily_aggregates", "local_date", lambda d: d),
    "weekly": ("weekly_aggregates", "week_start", lambda d: d - dt.timedelta(days=d.weekday())),
    "monthly": ("monthly_aggregates", "month_start", lambda d: d.replace(day=1)),
}


def expected_rows(truth: GroundTruth, granularity: str) -> dict[tuple[str, str], tuple]:
    """The ground truth summed per user and period (ISO week from its Monday, calendar month):
    steps, readings, heart-rate samples and sum, sleep heart-rate samples and sum."""
    period = TABLES[granularity][2]
    rows: dict[tuple[str, str], list] = {}
    for r in truth.rows.values():
        key = (r["user_id"], period(dt.date.fromisoformat(r["local_date"])).isoformat())
        row = rows.setdefault(key, [0, 0, 0, 0.0, 0, 0.0])
        for i, field in enumerate(("steps", "readings", "hr_count", "hr_sum", "sleep_hr_count",
                                   "sleep_hr_sum")):
            row[i] += r[field]
    return {k: (v[0], v[1], v[2], float(v[3]), v[4], float(v[5])) for k, v in rows.items()}


@pytest.mark.parametrize("granularity", ["daily", "weekly", "monthly"])
def test_a_backfill_of_each_default_schedule_gives_the_ground_truth(
        pipeline: Installed, sent: GroundTruth, granularity: str) -> None:
    kube = pipeline.kube
    schedule = next(o["metadata"]["name"] for o in pipeline.objects()
                    if o["kind"] == "AggregationSchedule"
                    and o["spec"]["granularity"] == granularity)
    first = min(row["local_date"] for row in sent.rows.values())
    last = max(row["local_date"] for row in sent.rows.values())
    kube("patch", "aggregationschedule", schedule, "--type=merge", "-p",
         json.dumps({"spec": {"backfill": {"from": first, "to": last, "maxConcurrent": 1}}}))

    def done() -> dict | None:
        status = kube.json("aggregationschedule", schedule).get("status", {})
        backfill = status.get("backfill", {})
        if backfill.get("failed"):
            raise AssertionError(f"a backfill run failed: {status.get('recentFailures')}")
        return status if backfill and backfill.get("succeeded") == backfill.get("total") else None

    status = wait_for(f"the {granularity} backfill's runs", done, 1500, every=10)
    runs = kube.json("sparkapplications", "-l", f"smartwatch.dev/granularity={granularity}")
    assert runs["items"] and {r["status"]["applicationState"]["state"]
                              for r in runs["items"]} == {"COMPLETED"}
    assert status["lastSuccessfulWindow"]
    ready = {c["type"]: c["status"] for c in status["conditions"]}
    assert ready["Ready"] == "True" and ready.get("Failing", "False") == "False"
    table, key, _ = TABLES[granularity]
    got = {(u, d): (int(steps), int(readings), int(hr_n), float(hr_sum), int(shr_n),
                    float(shr_sum))
           for u, d, steps, readings, hr_n, hr_sum, shr_n, shr_sum in psql(
               pipeline, f"SELECT user_id, {key}, total_steps, readings, hr_samples, hr_sum, "
                         f"sleep_hr_samples, sleep_hr_sum FROM {table}")}
    assert got == expected_rows(sent, granularity)


def test_uninstall_deletes_the_schedules_and_their_runs_without_hanging(
        pipeline: Installed) -> None:
    """The operator's finalizer on each schedule is let go before the operator goes (the
    chart's pre-delete Job): `helm uninstall --wait` returns, and no schedule or run stays."""
    kube = pipeline.kube
    assert kube.json("aggregationschedules")["items"]
    started = time.monotonic()
    pipeline.release.uninstall(timeout=240)
    print(f"helm uninstall: {time.monotonic() - started:.0f} s")
    assert kube.json("aggregationschedules")["items"] == []
    wait_for("the runs garbage-collected",
             lambda: kube.json("sparkapplications")["items"] == [], 120, every=5)
