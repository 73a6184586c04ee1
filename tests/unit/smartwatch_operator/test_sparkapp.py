"""The SparkApplication of a run, built from an AggregationSchedule as the API server stores
it (pure logic, expectations by hand)."""

import copy
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from smartwatch.periods import containing
from smartwatch_operator.sparkapp import SpecError, build

pytestmark = pytest.mark.unit

UID = "6f1c2c2e-5b7a-4a51-9d0e-0f3b8c1d2e4f"
IMAGE = "registry.example/smartwatch-spark:4.2.0-1"
MAIN = "local:///opt/smartwatch/jobs/smartwatch_jobs/submit.py"
SCHEDULE = {
    "apiVersion": "smartwatch.dev/v1alpha1",
    "kind": "AggregationSchedule",
    "metadata": {"name": "daily", "namespace": "analytics", "uid": UID, "generation": 3,
                 "resourceVersion": "4711", "annotations": {"note": "hand-written"}},
    "spec": {
        "granularity": "daily", "schedule": "30 2 * * *", "timeZone": "Europe/Berlin",
        "mode": "lookback", "lookback": 2, "suspend": False, "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 86400, "maxCatchUp": 10,
        "retry": {"limit": 3, "backoffSeconds": 60},
        "successfulRunsHistoryLimit": 3, "failedRunsHistoryLimit": 1,
        "lake": "s3a://lake/events",
        "postgres": {"secretName": "smartwatch-postgres", "key": "dsn"},
        "spark": {"image": IMAGE, "sparkVersion": "4.2.0", "mainApplicationFile": MAIN,
                  "serviceAccount": "spark",
                  "driver": {"cores": 1, "memory": "1g"},
                  "executor": {"cores": 2, "memory": "2g", "instances": 3},
                  "sparkConf": {"spark.sql.shuffle.partitions": "8",
                                "spark.sql.session.timeZone": "Europe/Berlin"}},
    },
}
DAY = containing("daily", date(2026, 11, 27))
ENV = [{"name": "SMARTWATCH_POSTGRES_DSN",
        "valueFrom": {"secretKeyRef": {"name": "smartwatch-postgres", "key": "dsn"}}},
       {"name": "SMARTWATCH_LAKE_URI", "value": "s3a://lake/events"}]

EXPECTED = {
    "apiVersion": "sparkoperator.k8s.io/v1beta2",
    "kind": "SparkApplication",
    "metadata": {
        "name": "daily-s20261127",
        "namespace": "analytics",
        "labels": {"smartwatch.dev/schedule": "daily",
                   "smartwatch.dev/granularity": "daily",
                   "smartwatch.dev/window": "2026-11-27",
                   "smartwatch.dev/kind": "s",
                   "smartwatch.dev/attempt": "0",
                   "app.kubernetes.io/managed-by": "smartwatch-operator"},
        "annotations": {"smartwatch.dev/fire-time": "2026-11-28T01:30:00Z",
                        "smartwatch.dev/window-start": "2026-11-27",
                        "smartwatch.dev/window-end": "2026-11-27"},
        "ownerReferences": [{"apiVersion": "smartwatch.dev/v1alpha1",
                             "kind": "AggregationSchedule", "name": "daily", "uid": UID,
                             "controller": True, "blockOwnerDeletion": True}],
    },
    "spec": {
        "type": "Python",
        "pythonVersion": "3",
        "mode": "cluster",
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "mainApplicationFile": MAIN,
        "sparkVersion": "4.2.0",
        "restartPolicy": {"type": "Never"},
        "arguments": ["aggregate", "--granularity", "daily", "--from", "2026-11-25",
                      "--to", "2026-11-27", "--run-name", "daily-s20261127"],
        "sparkConf": {"spark.sql.shuffle.partitions": "8", "spark.sql.session.timeZone": "UTC"},
        "driver": {"cores": 1, "memory": "1g", "serviceAccount": "spark",
                   "labels": {"app.kubernetes.io/managed-by": "smartwatch-operator"},
                   "template": {"spec": {
                       "enableServiceLinks": False,
                       "securityContext": {"runAsNonRoot": True,
                                           "seccompProfile": {"type": "RuntimeDefault"}},
                       "containers": [{"name": "spark-kubernetes-driver", "env": ENV,
                                       "securityContext": {"allowPrivilegeEscalation": False,
                                                           "capabilities": {"drop": ["ALL"]}}}]}}},
        "executor": {"cores": 2, "instances": 3, "memory": "2g",
                     "labels": {"app.kubernetes.io/managed-by": "smartwatch-operator"},
                     "template": {"spec": {
                         "enableServiceLinks": False,
                         "securityContext": {"runAsNonRoot": True,
                                             "seccompProfile": {"type": "RuntimeDefault"}},
                         "containers": [{"name": "spark-kubernetes-executor", "env": ENV,
                                         "securityContext": {"allowPrivilegeEscalation": False,
                                                             "capabilities": {"drop": ["ALL"]}}}]}}},
    },
}


def schedule_with(**spec: object) -> dict:
    body = copy.deepcopy(SCHEDULE)
    body["spec"].update(spec)
    return body


def test_scheduled_lookback_run() -> None:
    assert build(SCHEDULE, DAY, "s", 0, datetime(2026, 11, 28, 1, 30, tzinfo=UTC)) == EXPECTED


def test_fire_time_in_another_zone_is_written_in_utc() -> None:
    app = build(SCHEDULE, DAY, "s", 0, datetime(2026, 11, 28, 2, 30, tzinfo=ZoneInfo("Europe/Berlin")))
    assert app["metadata"]["annotations"]["smartwatch.dev/fire-time"] == "2026-11-28T01:30:00Z"


def test_dirty_mode() -> None:
    app = build(schedule_with(mode="dirty"), DAY, "s", 0, datetime(2026, 11, 28, 1, 30, tzinfo=UTC))
    expected = copy.deepcopy(EXPECTED)
    expected["spec"]["arguments"] = ["aggregate", "--granularity", "daily", "--dirty",
                                     "--run-name", "daily-s20261127"]
    assert app == expected


@pytest.mark.parametrize("mode", ["lookback", "dirty"])
def test_backfill_retry_runs_exactly_the_window(mode: str) -> None:
    app = build(schedule_with(mode=mode), DAY, "b", 1, None)
    expected = copy.deepcopy(EXPECTED)
    expected["metadata"]["name"] = "daily-b20261127-r1"
    expected["metadata"]["labels"]["smartwatch.dev/kind"] = "b"
    expected["metadata"]["labels"]["smartwatch.dev/attempt"] = "1"
    expected["metadata"]["annotations"] = {"smartwatch.dev/window-start": "2026-11-27",
                                           "smartwatch.dev/window-end": "2026-11-27"}
    expected["spec"]["arguments"] = ["aggregate", "--granularity", "daily", "--from", "2026-11-27",
                                     "--to", "2026-11-27", "--run-name", "daily-b20261127-r1"]
    assert app == expected


def test_weekly_run_now_and_scheduled() -> None:
    body = schedule_with(granularity="weekly", lookback=1)
    body["metadata"]["name"] = "steps.weekly"
    week = containing("weekly", date(2026, 11, 27))
    now = build(body, week, "n", 0, None)
    assert now["metadata"]["name"] == "steps-weekly-n2026w48"
    assert now["metadata"]["labels"]["smartwatch.dev/schedule"] == "steps.weekly"
    assert now["metadata"]["labels"]["smartwatch.dev/window"] == "2026-W48"
    assert now["metadata"]["annotations"] == {"smartwatch.dev/window-start": "2026-11-23",
                                              "smartwatch.dev/window-end": "2026-11-29"}
    assert now["spec"]["arguments"] == ["aggregate", "--granularity", "weekly",
                                        "--from", "2026-11-23", "--to", "2026-11-29",
                                        "--run-name", "steps-weekly-n2026w48"]
    scheduled = build(body, week, "s", 0, datetime(2026, 11, 30, 1, 30, tzinfo=UTC))
    assert scheduled["spec"]["arguments"] == ["aggregate", "--granularity", "weekly",
                                              "--from", "2026-11-16", "--to", "2026-11-29",
                                              "--run-name", "steps-weekly-s2026w48"]


def test_monthly_lookback_zero() -> None:
    body = schedule_with(granularity="monthly", lookback=0)
    app = build(body, containing("monthly", date(2024, 2, 10)), "s", 0, None)
    assert app["spec"]["arguments"] == ["aggregate", "--granularity", "monthly",
                                        "--from", "2024-02-01", "--to", "2024-02-29",
                                        "--run-name", "daily-s202402"]


def test_long_schedule_name() -> None:
    body = copy.deepcopy(SCHEDULE)
    body["metadata"]["name"] = "analytics.europe-west." + "a" * 70 + ".daily"
    app = build(body, DAY, "s", 0, None)
    assert len(app["metadata"]["name"]) == 63
    assert app["metadata"]["name"].startswith("analytics-europe-west-aaaa")
    assert app["metadata"]["name"][-18:-9] == "s20261127"
    schedule_label = app["metadata"]["labels"]["smartwatch.dev/schedule"]
    assert len(schedule_label) == 63 and schedule_label.startswith("analytics.europe-west.aaa")
    assert app["metadata"]["ownerReferences"][0]["name"] == body["metadata"]["name"]


def test_no_spark_conf_and_no_aliasing() -> None:
    body = copy.deepcopy(SCHEDULE)
    del body["spec"]["spark"]["sparkConf"]
    app = build(body, DAY, "s", 0, None)
    assert app["spec"]["sparkConf"] == {"spark.sql.session.timeZone": "UTC"}
    envs = [app["spec"][role]["template"]["spec"]["containers"][0]["env"]
            for role in ("driver", "executor")]
    assert envs[0] == envs[1] and envs[0] is not envs[1]
    build(SCHEDULE, DAY, "s", 0, None)
    assert SCHEDULE["spec"]["spark"]["sparkConf"]["spark.sql.session.timeZone"] == "Europe/Berlin"


def test_the_schedules_env_comes_after_the_operators() -> None:
    extra = [{"name": "AWS_ACCESS_KEY_ID",
              "valueFrom": {"secretKeyRef": {"name": "lake", "key": "accessKey"}}}]
    body = copy.deepcopy(SCHEDULE)
    body["spec"]["spark"]["env"] = extra
    app = build(body, DAY, "s", 0, None)
    for role in ("driver", "executor"):
        assert app["spec"][role]["template"]["spec"]["containers"][0]["env"] == [*ENV, *extra]


def test_errors() -> None:
    body = copy.deepcopy(SCHEDULE)
    del body["spec"]["spark"]["driver"]["cores"]
    with pytest.raises(SpecError, match=r"spec\.spark\.driver\.cores is missing"):
        build(body, DAY, "s", 0, None)
    with pytest.raises(SpecError, match="a weekly window for a daily schedule"):
        build(SCHEDULE, containing("weekly", date(2026, 11, 27)), "s", 0, None)
    with pytest.raises(ValueError, match="unknown run kind 'x'"):
        build(SCHEDULE, DAY, "x", 0, None)
    with pytest.raises(ValueError, match="timezone-aware"):
        build(SCHEDULE, DAY, "s", 0, datetime(2026, 11, 28, 1, 30))
