"""The SparkApplication (spark-operator `sparkoperator.k8s.io/v1beta2`) of one run
(docs/operator.md, "Runs")."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from smartwatch import k8s
from smartwatch.periods import Window, lookback_span
from smartwatch_operator.naming import label_value, run_name

MANAGED_BY = "smartwatch-operator"


class SpecError(ValueError):
    """The schedule object lacks a field that the API server should have defaulted."""


def _field(spec: dict[str, Any], path: str) -> Any:
    value: Any = spec
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            raise SpecError(f"spec.{path} is missing")
        value = value[key]
    return value


def rfc3339(instant: datetime) -> str:
    """An aware datetime as RFC 3339 in UTC with `Z`, to the second (`2026-11-28T01:30:00Z`)."""
    if instant.tzinfo is None:
        raise ValueError("the fire time must be timezone-aware")
    return instant.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _arguments(spec: dict[str, Any], window: Window, kind: str, name: str) -> list[str]:
    """The entrypoint's arguments. Scheduled runs in lookback mode cover the window and the
    `lookback` periods before it; scheduled runs in dirty mode are `--dirty`; backfill and
    run-now runs cover exactly the window, whatever the mode."""
    granularity = window.granularity
    head = ["aggregate", "--granularity", granularity]
    if kind == "s" and _field(spec, "mode") == "dirty":
        return [*head, "--dirty", "--run-name", name]
    if kind == "s":
        start, end = lookback_span(window, int(_field(spec, "lookback")))
    else:
        start, end = window.start, window.end
    return [*head, "--from", start.isoformat(), "--to", end.isoformat(), "--run-name", name]


def build(schedule: dict[str, Any], window: Window, kind: str, attempt: int,
          fire_time: datetime | None) -> dict[str, Any]:
    """The SparkApplication body of one run of `schedule` (the AggregationSchedule as the API
    server returns it, defaults filled in) for `window`.

    Named by naming.run_name, in the schedule's namespace, owned by the schedule (controller),
    labelled with schedule (naming.label_value of its name), granularity, window label, kind
    and attempt, annotated with the fire time (when given) and the window's first and last
    date. `spark.sql.session.timeZone` is always UTC (the job relies on it), overriding
    spec.spark.sparkConf.
    """
    meta, spec = schedule["metadata"], schedule["spec"]
    if window.granularity != _field(spec, "granularity"):
        raise SpecError(f"a {window.granularity} window for a {spec['granularity']} schedule")
    name = run_name(meta["name"], kind, window, attempt)
    spark = _field(spec, "spark")
    env = [{"name": "SMARTWATCH_POSTGRES_DSN",
            "valueFrom": {"secretKeyRef": {"name": _field(spec, "postgres.secretName"),
                                           "key": _field(spec, "postgres.key")}}},
           {"name": "SMARTWATCH_LAKE_URI", "value": _field(spec, "lake")},
           *spark.get("env", [])]
    return {
        "apiVersion": k8s.SPARK_APPLICATIONS.api_version,
        "kind": "SparkApplication",
        "metadata": _metadata(meta, name, window, kind, attempt, fire_time),
        "spec": {
            "type": "Python",
            "pythonVersion": "3",
            "mode": "cluster",
            "image": _field(spec, "spark.image"),
            "imagePullPolicy": "IfNotPresent",
            "mainApplicationFile": _field(spec, "spark.mainApplicationFile"),
            "sparkVersion": _field(spec, "spark.sparkVersion"),
            "restartPolicy": {"type": "Never"},
            "arguments": _arguments(spec, window, kind, name),
            "sparkConf": {**spark.get("sparkConf", {}), "spark.sql.session.timeZone": "UTC"},
            "driver": {"cores": _field(spec, "spark.driver.cores"),
                       "memory": _field(spec, "spark.driver.memory"),
                       "serviceAccount": _field(spec, "spark.serviceAccount"),
                       "labels": {"app.kubernetes.io/managed-by": MANAGED_BY},
                       "template": pod_template(DRIVER_CONTAINER, env)},
            "executor": {"cores": _field(spec, "spark.executor.cores"),
                         "instances": _field(spec, "spark.executor.instances"),
                         "memory": _field(spec, "spark.executor.memory"),
                         "labels": {"app.kubernetes.io/managed-by": MANAGED_BY},
                         "template": pod_template(EXECUTOR_CONTAINER, env)},
        },
    }


#: The container names Spark gives its driver and executor pods (and looks for in a template).
DRIVER_CONTAINER = "spark-kubernetes-driver"
EXECUTOR_CONTAINER = "spark-kubernetes-executor"


def pod_template(container: str, env: list[dict[str, Any]]) -> dict[str, Any]:
    """The pod template of a run's driver or executors: its settings (env, Secrets by
    reference), the restricted security contexts (the image's non-root user), and no Service
    links. spark-operator hands it to spark-submit as a pod template file, so it applies
    without spark-operator's mutating webhook."""
    return {"spec": {
        "enableServiceLinks": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": container, "env": copy.deepcopy(env),
                        "securityContext": {"allowPrivilegeEscalation": False,
                                            "capabilities": {"drop": ["ALL"]}}}],
    }}


def _metadata(meta: dict[str, Any], name: str, window: Window, kind: str, attempt: int,
              fire_time: datetime | None) -> dict[str, Any]:
    """The run's metadata: see build."""
    annotations = {k8s.WINDOW_START_ANNOTATION: window.start.isoformat(),
                   k8s.WINDOW_END_ANNOTATION: window.end.isoformat()}
    if fire_time is not None:
        annotations = {k8s.FIRE_TIME_ANNOTATION: rfc3339(fire_time), **annotations}
    return {
        "name": name,
        "namespace": meta["namespace"],
        "labels": {k8s.SCHEDULE_LABEL: label_value(meta["name"]),
                   k8s.GRANULARITY_LABEL: window.granularity,
                   k8s.WINDOW_LABEL: window.label,
                   k8s.KIND_LABEL: kind,
                   k8s.ATTEMPT_LABEL: str(attempt),
                   "app.kubernetes.io/managed-by": MANAGED_BY},
        "annotations": annotations,
        "ownerReferences": [{"apiVersion": k8s.SCHEDULES.api_version, "kind": k8s.SCHEDULES.kind,
                             "name": meta["name"], "uid": meta["uid"],
                             "controller": True, "blockOwnerDeletion": True}],
    }
