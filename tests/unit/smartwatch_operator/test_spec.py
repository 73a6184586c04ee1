"""The schedule's spec as the planner parses it: its defaults are the CRD's, and what the CRD
cannot check is refused naming the field (hand-written cases)."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from smartwatch_dev.toolchain import SCHEDULE_CRD
from smartwatch_operator.spec import DEFAULTS, Invalid, Mode, Policies, Policy, ScheduleSpec

pytestmark = pytest.mark.unit


def crd_defaults() -> dict[str, object]:
    """Every default the CRD gives under spec, by dotted path (spark, postgres and the
    Secret's key left out: the planner reads none of them)."""
    crd = yaml.safe_load(SCHEDULE_CRD.read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    found: dict[str, object] = {}

    def walk(node: dict, path: str) -> None:
        for name, prop in (node.get("properties") or {}).items():
            here = f"{path}.{name}" if path else name
            if "default" in prop and prop["default"] != {}:
                found[here] = prop["default"]
            walk(prop, here)

    walk(spec, "")
    return {k: v for k, v in found.items()
            if not k.startswith(("spark", "postgres")) and k != "lookback"}


def test_the_defaults_are_the_crds() -> None:
    assert crd_defaults() == DEFAULTS


def test_an_empty_spec_takes_every_default() -> None:
    p = Policies.of({})
    assert p == Policies(mode=Mode.LOOKBACK, suspend=False, concurrency=Policy.FORBID,
                         starting_deadline=dt.timedelta(days=1), max_catch_up=10, retry_limit=3,
                         backoff_seconds=60.0, successful_history=3, failed_history=1,
                         start_deadline=dt.timedelta(minutes=30),
                         run_deadline=dt.timedelta(hours=6))


def test_given_values_win_over_the_defaults() -> None:
    p = Policies.of({"mode": "dirty", "suspend": True, "concurrencyPolicy": "Replace",
                     "startingDeadlineSeconds": 60, "maxCatchUp": 2,
                     "retry": {"limit": 0, "backoffSeconds": 5},
                     "successfulRunsHistoryLimit": 0, "failedRunsHistoryLimit": 7})
    assert (p.mode, p.suspend, p.concurrency, p.starting_deadline, p.max_catch_up,
            p.retry_limit, p.backoff_seconds, p.successful_history, p.failed_history) == (
        Mode.DIRTY, True, Policy.REPLACE, dt.timedelta(seconds=60), 2, 0, 5.0, 0, 7)
    # A retry object with one field keeps the other's default.
    assert Policies.of({"retry": {"limit": 1}}).backoff_seconds == 60.0


@pytest.mark.parametrize(("spec", "message"), [
    ({"schedule": "61 * * * *"}, "spec.schedule: "),
    ({"timeZone": "Europe/Nowhere"}, "spec.timeZone: unknown IANA time zone 'Europe/Nowhere'"),
    ({"granularity": "hourly"}, "spec.granularity: 'hourly' is not one of daily, weekly, monthly"),
    ({"backfill": {"from": "2026-13-01", "to": "2026-01-02"}}, "spec.backfill: from and to must"),
    ({"backfill": {"from": "2026-02-01", "to": "2026-01-02"}},
     "spec.backfill: from 2026-02-01 is after to 2026-01-02"),
])
def test_what_the_crd_cannot_check_is_refused_naming_the_field(spec: dict, message: str) -> None:
    with pytest.raises(Invalid) as info:
        ScheduleSpec.of({"granularity": "daily", "schedule": "0 3 * * *", **spec})
    assert str(info.value).startswith(message)


def test_a_backfill_keeps_its_range_and_bound() -> None:
    parsed = ScheduleSpec.of({"granularity": "weekly", "schedule": "0 3 * * 1",
                              "backfill": {"from": "2026-01-05", "to": "2026-02-01"}})
    assert parsed.backfill is not None
    assert (parsed.backfill.first, parsed.backfill.last, parsed.backfill.max_concurrent,
            parsed.backfill.key) == (dt.date(2026, 1, 5), dt.date(2026, 2, 1), 2,
                                     "2026-01-05..2026-02-01")
