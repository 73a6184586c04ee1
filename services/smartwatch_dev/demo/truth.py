"""What the demo's aggregates must say, worked out from the readings the simulator sent, and
the comparison with what Postgres holds: pure logic, no I/O.

The periods are computed here from each owner's zone with the standard library alone
(the local date; its ISO week's Monday; the first of its month), not with the jobs' code, so
the comparison checks the jobs rather than repeating them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from smartwatch.events import ASLEEP_STATES
from smartwatch_dev.simulate.fleet import Reading

GRANULARITIES = ("daily", "weekly", "monthly")
#: The column that names each granularity's period in its table.
PERIOD_COLUMN = {"daily": "local_date", "weekly": "week_start", "monthly": "month_start"}
#: The columns compared, each as Postgres names it.
COLUMNS = ("total_steps", "readings", "hr_samples", "hr_sum", "min_hr", "max_hr", "avg_hr",
           "sleep_hr_samples", "sleep_hr_sum", "avg_sleep_hr", "first_at", "last_at")


def period_start(granularity: str, local_date: dt.date) -> dt.date:
    if granularity == "daily":
        return local_date
    if granularity == "weekly":
        return local_date - dt.timedelta(days=local_date.weekday())
    return local_date.replace(day=1)


def expected(readings: Iterable[Reading]) -> dict[str, dict[tuple[str, dt.date], dict[str, Any]]]:
    """Per granularity, per (user, period's first day): every compared column. Each reading
    counts once, however often it was sent."""
    out: dict[str, dict[tuple[str, dt.date], dict[str, Any]]] = {g: {} for g in GRANULARITIES}
    seen: set[tuple[str, dt.datetime]] = set()
    zones: dict[str, ZoneInfo] = {}
    for r in readings:
        if (r.user.device_id, r.measured_at) in seen:
            continue
        seen.add((r.user.device_id, r.measured_at))
        zone = zones.setdefault(r.user.time_zone, ZoneInfo(r.user.time_zone))
        local_date = r.measured_at.astimezone(zone).date()
        asleep = r.sleep_state in ASLEEP_STATES
        for g in GRANULARITIES:
            key = (r.user.user_id, period_start(g, local_date))
            row = out[g].get(key)
            if row is None:
                row = out[g][key] = {"total_steps": 0, "readings": 0, "hr_samples": 0,
                                     "hr_sum": 0, "min_hr": None, "max_hr": None,
                                     "sleep_hr_samples": 0, "sleep_hr_sum": 0,
                                     "first_at": r.measured_at, "last_at": r.measured_at}
            row["total_steps"] += r.steps
            row["readings"] += 1
            row["hr_samples"] += 1
            row["hr_sum"] += r.heart_rate_bpm
            hr = r.heart_rate_bpm
            row["min_hr"] = hr if row["min_hr"] is None else min(row["min_hr"], hr)
            row["max_hr"] = hr if row["max_hr"] is None else max(row["max_hr"], hr)
            if asleep:
                row["sleep_hr_samples"] += 1
                row["sleep_hr_sum"] += r.heart_rate_bpm
            row["first_at"] = min(row["first_at"], r.measured_at)
            row["last_at"] = max(row["last_at"], r.measured_at)
    for rows in out.values():
        for row in rows.values():
            row["avg_hr"] = row["hr_sum"] / row["hr_samples"] if row["hr_samples"] else None
            row["avg_sleep_hr"] = (row["sleep_hr_sum"] / row["sleep_hr_samples"]
                                   if row["sleep_hr_samples"] else None)
    return out


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, dt.datetime) or isinstance(b, dt.datetime):
        return a == b
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def differences(want: Mapping[str, Mapping[tuple[str, dt.date], Mapping[str, Any]]],
                got: Mapping[str, Mapping[tuple[str, dt.date], Mapping[str, Any]]]) -> list[str]:
    """Every way `got` (rows as read from Postgres, same keys) differs from `want`, one line
    each, naming the table, user, period and column: rows missing, rows not expected,
    columns with another value."""
    found = []
    for g in GRANULARITIES:
        w, o = want.get(g, {}), got.get(g, {})
        for key in sorted(set(w) | set(o)):
            where = f"{g} {key[0]} {key[1]}"
            if key not in o:
                found.append(f"{where}: missing")
            elif key not in w:
                found.append(f"{where}: not expected (nothing was sent for it)")
            else:
                for column in COLUMNS:
                    if not _same(w[key][column], o[key][column]):
                        found.append(f"{where}: {column} is {_show(o[key][column])}, "
                                     f"expected {_show(w[key][column])}")
    return found


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    return str(value)


@dataclasses.dataclass(frozen=True)
class Counts:
    """The reconciliation's figures, each measured where it lives."""

    sent: int            # unique readings the simulator sent
    resent: int          # copies of batches sent a second time
    late: int            # readings sent after the first aggregation
    accepted: int        # unique readings the API accepted (from its answers)
    landed: int          # distinct event ids in the lake
    counted: int         # sum of readings over the daily aggregates
    rows: Mapping[str, int]  # aggregate rows per granularity in Postgres


def line(counts: Counts, diffs: list[str], audit: Mapping[str, Any] | None = None,
         shown: int = 3) -> str:
    """The one reconciliation line; with `audit` (`smartwatch audit --json`'s report), its
    verdict too."""
    figures = [("readings sent", counts.sent, ""), ("accepted", counts.accepted, ""),
               ("landed", counts.landed, " (unique)"),
               ("counted", counts.counted, " (daily aggregates)")]
    chain = f"readings sent {counts.sent}"
    for (_, before, _), (name, value, suffix) in itertools.pairwise(figures):
        chain += f" {'=' if value == before else '!='} {name} {value}{suffix}"
    equal = counts.sent == counts.accepted == counts.landed == counts.counted
    rows = ", ".join(f"{counts.rows.get(g, 0)} {g}" for g in GRANULARITIES)
    extra = f"{counts.resent} resent copies and {counts.late} late readings included"
    audit_failed = audit is not None and not audit["ok"]
    if audit is not None:
        behind = sum(p["behind"] for p in audit["lag"] or [])
        extra += (f"; audit: {audit['user_days']} user-days, {behind} records not landed, "
                  + ("ok" if audit["ok"] else f"{len(audit['differences'])} differ"))
    if equal and not diffs and not audit_failed:
        verdict = "match: yes"
    else:
        problems = (([] if equal else ["the counts differ"])
                    + (["the audit found differences"] if audit_failed else []) + diffs[:shown])
        more = f" (+{len(diffs) - shown} more)" if len(diffs) > shown else ""
        verdict = "match: no: " + "; ".join(problems) + more
    return f"reconciliation: {chain}; {extra}; rows {rows} vs the ground truth: {verdict}"
