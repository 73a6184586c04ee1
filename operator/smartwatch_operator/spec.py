"""An AggregationSchedule's spec as plan() reads it: the cron schedule, the time zone and the
backfill range, each checked (the API server checks the rest against the CRD)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from smartwatch_operator.cron import Cron, CronError


class Invalid(Exception):
    """The spec cannot be scheduled; the message names the field."""


@dataclasses.dataclass(frozen=True)
class ScheduleSpec:
    granularity: str
    cron: Cron
    zone: ZoneInfo
    backfill: tuple[dt.date, dt.date, int] | None

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> ScheduleSpec:
        try:
            cron = Cron.parse(str(spec.get("schedule", "")))
        except CronError as exc:
            raise Invalid(f"spec.schedule: {exc}") from None
        zone_name = spec.get("timeZone") or "UTC"
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise Invalid(f"spec.timeZone: unknown IANA time zone {zone_name!r}") from None
        backfill = None
        if spec.get("backfill"):
            bf = spec["backfill"]
            try:
                first, last = dt.date.fromisoformat(bf["from"]), dt.date.fromisoformat(bf["to"])
            except (KeyError, TypeError, ValueError):
                raise Invalid("spec.backfill: from and to must be dates (YYYY-MM-DD)") from None
            if first > last:
                raise Invalid(f"spec.backfill: from {first} is after to {last}")
            backfill = (first, last, int(bf.get("maxConcurrent", 2)))
        return cls(spec["granularity"], cron, zone, backfill)
