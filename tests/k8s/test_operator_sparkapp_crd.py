"""SparkApplications built by the operator are accepted by spark-operator's real CRD and kept
field for field (nothing pruned) by a real kube-apiserver."""

import copy
import uuid
from datetime import UTC, date, datetime

import pytest

from smartwatch.periods import containing
from smartwatch_operator.sparkapp import build

pytestmark = pytest.mark.k8s

GROUP, VERSION, PLURAL = "sparkoperator.k8s.io", "v1beta2", "sparkapplications"


def _schedule(namespace: str, name: str, **spec: object) -> dict:
    body = {
        "apiVersion": "smartwatch.dev/v1alpha1",
        "kind": "AggregationSchedule",
        "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4())},
        "spec": {
            "granularity": "daily", "schedule": "30 2 * * *", "timeZone": "Europe/Berlin",
            "mode": "lookback", "lookback": 2, "lake": "s3a://lake/events",
            "postgres": {"secretName": "smartwatch-postgres", "key": "dsn"},
            "spark": {"image": "apache/spark:4.2.0-scala2.13-java17-python3-ubuntu",
                      "sparkVersion": "4.2.0",
                      "mainApplicationFile": "local:///opt/smartwatch/jobs/smartwatch_jobs/submit.py",
                      "serviceAccount": "spark",
                      "driver": {"cores": 1, "memory": "1g"},
                      "executor": {"cores": 2, "memory": "2g", "instances": 3},
                      "sparkConf": {"spark.sql.shuffle.partitions": "8"}},
        },
    }
    body["spec"].update(spec)
    return body


def test_built_spark_applications_round_trip(kube_client, spark_operator_crds) -> None:
    from kubernetes import client

    core = client.CoreV1Api(kube_client)
    custom = client.CustomObjectsApi(kube_client)
    namespace = f"sparkapp-crd-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": namespace}})
    try:
        day = containing("daily", date(2026, 11, 27))
        fire = datetime(2026, 11, 28, 1, 30, tzinfo=UTC)
        long_name = "analytics.europe-west." + "a" * 80 + ".daily"
        apps = [
            build(_schedule(namespace, "daily"), day, "s", 0, fire),
            build(_schedule(namespace, "dirty", mode="dirty"), day, "s", 0, fire),
            build(_schedule(namespace, "daily"), day, "b", 2, None),
            build(_schedule(namespace, "weekly", granularity="weekly"),
                  containing("weekly", date(2026, 11, 27)), "n", 0, None),
            build(_schedule(namespace, long_name), day, "s", 1, fire),
        ]
        assert len(apps[-1]["metadata"]["name"]) == 63
        for app in apps:
            sent = copy.deepcopy(app)
            custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, app)
            got = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                                      sent["metadata"]["name"])
            assert got["spec"] == sent["spec"]
            for key in ("name", "namespace", "labels", "annotations", "ownerReferences"):
                assert got["metadata"][key] == sent["metadata"][key], key
        listed = custom.list_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL,
            label_selector="smartwatch.dev/schedule=daily,smartwatch.dev/kind=b")
        assert [i["metadata"]["name"] for i in listed["items"]] == ["daily-b20261127-r2"]
        for app in apps:
            custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                                   app["metadata"]["name"])
    finally:
        core.delete_namespace(namespace)
