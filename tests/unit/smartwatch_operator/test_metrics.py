"""The operator's metrics live in a registry of their own, made at start-up."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, generate_latest

from smartwatch_operator.metrics import Metrics
from smartwatch_operator.reconcile import Plan

pytestmark = pytest.mark.unit


def test_importing_registers_nothing_globally() -> None:
    assert b"smartwatch_operator_" not in generate_latest(REGISTRY)


def test_two_operators_count_apart() -> None:
    a, b = Metrics(), Metrics()
    plan = Plan(missed=3)
    a.observe("daily", plan, 0.5)
    assert a.missed.labels("daily")._value.get() == 3
    assert b.missed.labels("daily")._value.get() == 0
    assert b"smartwatch_operator_missed_fire_times_total" in generate_latest(a.registry)
