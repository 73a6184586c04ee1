"""An AggregationSchedule's spec as plan() reads it, every field parsed once.

The API server applies the CRD's defaults and checks its bounds, so a stored spec has every
field. DEFAULTS repeats those defaults for a spec that did not pass through an API server (the
unit tests, an older object): `tests/unit/smartwatch_operator/test_spec.py` checks that they are
the CRD's. What the CRD cannot check (the cron expression, the time zone, a backfill's dates)
is checked here: `ScheduleSpec.of` raises Invalid, naming the field. The policies (`Policies`)
never make a spec invalid, so a schedule with a bad cron still keeps its history limits.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from smartwatch.periods import GRANULARITIES
from smartwatch_operator.cron import Cron, CronError

#: The CRD's defaults of the fields plan() reads (dotted paths under spec).
DEFAULTS: dict[str, Any] = {
    "timeZone": "UTC", "mode": "lookback", "suspend": False, "concurrencyPolicy": "Forbid",
    "startingDeadlineSeconds": 86400, "maxCatchUp": 10, "retry.limit": 3,
    "retry.backoffSeconds": 60, "successfulRunsHistoryLimit": 3, "failedRunsHistoryLimit": 1,
    "backfill.maxConcurrent": 2, "deadlines.startSeconds": 1800, "deadlines.runSeconds": 21600,
}


class Invalid(Exception):
    """The spec cannot be scheduled; the message names the field."""


class Mode(StrEnum):
    LOOKBACK = "lookback"  # a run recomputes its window (and the lookback periods)
    DIRTY = "dirty"        # a run recomputes whatever is dirty: each fire is a run


class Policy(StrEnum):
    """What a due window does while another run of the schedule is active."""

    ALLOW = "Allow"
    FORBID = "Forbid"
    REPLACE = "Replace"


def field(spec: Mapping[str, Any], path: str) -> Any:
    """spec's value at the dotted `path`, or the CRD's default where it is absent."""
    value: Any = spec
    for key in path.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    return DEFAULTS[path] if value is None else value


@dataclasses.dataclass(frozen=True)
class Policies:
    mode: Mode
    suspend: bool
    concurrency: Policy
    starting_deadline: dt.timedelta
    max_catch_up: int
    retry_limit: int
    backoff_seconds: float
    successful_history: int
    failed_history: int
    start_deadline: dt.timedelta  # a run unstarted this long after its creation fails
    run_deadline: dt.timedelta    # a run not ended this long after its creation fails

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> Policies:
        return cls(mode=Mode(field(spec, "mode")), suspend=bool(field(spec, "suspend")),
                   concurrency=Policy(field(spec, "concurrencyPolicy")),
                   starting_deadline=dt.timedelta(seconds=int(field(spec, "startingDeadlineSeconds"))),
                   max_catch_up=int(field(spec, "maxCatchUp")),
                   retry_limit=int(field(spec, "retry.limit")),
                   backoff_seconds=float(field(spec, "retry.backoffSeconds")),
                   successful_history=int(field(spec, "successfulRunsHistoryLimit")),
                   failed_history=int(field(spec, "failedRunsHistoryLimit")),
                   start_deadline=dt.timedelta(seconds=int(field(spec, "deadlines.startSeconds"))),
                   run_deadline=dt.timedelta(seconds=int(field(spec, "deadlines.runSeconds"))))


@dataclasses.dataclass(frozen=True)
class Backfill:
    first: dt.date
    last: dt.date
    max_concurrent: int

    @property
    def key(self) -> str:
        return f"{self.first}..{self.last}"

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> Backfill | None:
        bf = spec.get("backfill")
        if not bf:
            return None
        try:
            first, last = dt.date.fromisoformat(bf["from"]), dt.date.fromisoformat(bf["to"])
        except (KeyError, TypeError, ValueError):
            raise Invalid("spec.backfill: from and to must be dates (YYYY-MM-DD)") from None
        if first > last:
            raise Invalid(f"spec.backfill: from {first} is after to {last}")
        return cls(first, last, int(field(spec, "backfill.maxConcurrent")))


@dataclasses.dataclass(frozen=True)
class ScheduleSpec:
    granularity: str
    cron: Cron
    zone: ZoneInfo
    backfill: Backfill | None
    policies: Policies

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> ScheduleSpec:
        try:
            cron = Cron.parse(str(spec.get("schedule", "")))
        except CronError as exc:
            raise Invalid(f"spec.schedule: {exc}") from None
        zone_name = field(spec, "timeZone")
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise Invalid(f"spec.timeZone: unknown IANA time zone {zone_name!r}") from None
        granularity = spec.get("granularity")
        if granularity not in GRANULARITIES:
            raise Invalid(f"spec.granularity: {granularity!r} is not one of "
                          f"{', '.join(GRANULARITIES)}")
        return cls(granularity, cron, zone, Backfill.of(spec), Policies.of(spec))
