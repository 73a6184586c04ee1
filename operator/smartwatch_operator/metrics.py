"""Prometheus metrics of the operator (served by `smartwatch operator --metrics-port`).

Made once at start-up, in a registry of their own: importing this module registers nothing,
and every operator (or test) that makes its own Metrics counts apart."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from smartwatch_operator.reconcile import Plan

_OUTCOMES = {"RunSucceeded": "succeeded", "RunFailed": "failed", "RunReplaced": "replaced"}


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.runs_created = Counter("smartwatch_operator_runs_created_total",
                                    "SparkApplications created, by granularity and kind",
                                    ["granularity", "kind"], registry=r)
        self.runs_deleted = Counter("smartwatch_operator_runs_deleted_total",
                                    "SparkApplications deleted (history limits, Replace)",
                                    ["granularity"], registry=r)
        self.run_outcomes = Counter("smartwatch_operator_run_outcomes_total",
                                    "Runs seen finishing or being replaced, by outcome",
                                    ["granularity", "outcome"], registry=r)
        self.missed = Counter("smartwatch_operator_missed_fire_times_total",
                              "Fire times not run (past startingDeadlineSeconds or beyond "
                              "maxCatchUp)", ["granularity"], registry=r)
        self.reconcile = Histogram("smartwatch_operator_reconcile_seconds",
                                   "Time to plan and carry out one look at one schedule",
                                   registry=r)

    def observe(self, granularity: str, plan: Plan, seconds: float) -> None:
        for request in plan.create:
            self.runs_created.labels(granularity, request.kind).inc()
        if plan.delete:
            self.runs_deleted.labels(granularity).inc(len(plan.delete))
        for _, reason, _ in plan.events:
            if reason in _OUTCOMES:
                self.run_outcomes.labels(granularity, _OUTCOMES[reason]).inc()
        if plan.missed:
            self.missed.labels(granularity).inc(plan.missed)
        self.reconcile.observe(seconds)
