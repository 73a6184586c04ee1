"""Kubernetes names, written once: the custom resources' API coordinates, and the labels and
annotations the operator, the local SparkApplication runner, the demo, the benchmarks and the
tests read. `tests/unit/smartwatch/test_k8s_names.py` checks them against the CRDs."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Resource:
    """A custom resource's group, version, plural and kind."""

    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def coordinates(self) -> tuple[str, str, str]:
        """(group, version, plural), as kopf's decorators take them."""
        return self.group, self.version, self.plural


#: The project's AggregationSchedule (manifests/crds/).
SCHEDULES = Resource("smartwatch.dev", "v1alpha1", "aggregationschedules", "AggregationSchedule")
#: spark-operator's SparkApplication, which the operator creates a run as.
SPARK_APPLICATIONS = Resource("sparkoperator.k8s.io", "v1beta2", "sparkapplications",
                              "SparkApplication")

#: The prefix of the project's labels and annotations.
PREFIX = f"{SCHEDULES.group}/"
#: Labels of a run (a SparkApplication): its schedule, granularity, window, kind and attempt.
SCHEDULE_LABEL = f"{PREFIX}schedule"
GRANULARITY_LABEL = f"{PREFIX}granularity"
WINDOW_LABEL = f"{PREFIX}window"
KIND_LABEL = f"{PREFIX}kind"
ATTEMPT_LABEL = f"{PREFIX}attempt"
#: Annotations of a run: its fire time (scheduled runs) and its window's first and last day.
FIRE_TIME_ANNOTATION = f"{PREFIX}fire-time"
WINDOW_START_ANNOTATION = f"{PREFIX}window-start"
WINDOW_END_ANNOTATION = f"{PREFIX}window-end"
#: The annotation a user sets on a schedule to run one window now.
RUN_NOW_ANNOTATION = f"{PREFIX}run-now"
#: The finalizer the operator keeps on each schedule.
FINALIZER = f"{PREFIX}operator"
#: The label spark-operator puts on a SparkApplication's pods.
APP_NAME_LABEL = f"{SPARK_APPLICATIONS.group}/app-name"
