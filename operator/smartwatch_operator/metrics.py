"""Prometheus metrics of the operator (served by `smartwatch operator --metrics-port`)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from smartwatch_operator.reconcile import Plan

RUNS_CREATED = Counter("smartwatch_operator_runs_created_total",
                       "SparkApplications created, by granularity and kind",
                       ["granularity", "kind"])
RUNS_DELETED = Counter("smartwatch_operator_runs_deleted_total",
                       "SparkApplications deleted (history limits, Replace)", ["granularity"])
RUN_OUTCOMES = Counter("smartwatch_operator_run_outcomes_total",
                       "Runs seen finishing or being replaced, by outcome",
                       ["granularity", "outcome"])
MISSED = Counter("smartwatch_operator_missed_fire_times_total",
                 "Fire times not run (past startingDeadlineSeconds or beyond maxCatchUp)",
                 ["granularity"])
RECONCILE = Histogram("smartwatch_operator_reconcile_seconds",
                      "Time to plan and carry out one look at one schedule")

_OUTCOMES = {"RunSucceeded": "succeeded", "RunFailed": "failed", "RunReplaced": "replaced"}


def observe(granularity: str, plan: Plan, seconds: float) -> None:
    for request in plan.create:
        RUNS_CREATED.labels(granularity, request.kind).inc()
    if plan.delete:
        RUNS_DELETED.labels(granularity).inc(len(plan.delete))
    for _, reason, _ in plan.events:
        if reason in _OUTCOMES:
            RUN_OUTCOMES.labels(granularity, _OUTCOMES[reason]).inc()
    if plan.missed:
        MISSED.labels(granularity).inc(plan.missed)
    RECONCILE.observe(seconds)
