"""What an AggregationSchedule needs now: pure logic, no I/O.

`plan()` takes the schedule (spec and status as stored), the SparkApplications it owns (as the
operator last saw them) and the time, and returns the runs to create and delete, the new
status and the Events to post. The kopf handlers only carry the plan out, so every behaviour
(catch-up, backfill, concurrency, retries, history, run-now) is decided here.

Status keeps one record per (kind, window) in `status.windows`; a record moves
Pending -> Running -> Succeeded, or Running -> Retrying -> Pending ... -> Failed, or to
Replaced. Run names are deterministic (schedule, kind, window, attempt), so a run created just
before a restart is found again by name instead of being created twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from smartwatch import k8s
from smartwatch.periods import Window, WindowError, between, containing, of_fire, one_period
from smartwatch_operator import naming
from smartwatch_operator.cron import Cron, fire_times, next_fire
from smartwatch_operator.spec import Invalid, ScheduleSpec

UTC = dt.UTC
SUCCEEDED_STATES = frozenset({"COMPLETED"})
FAILED_STATES = frozenset({"FAILED", "SUBMISSION_FAILED"})
ACTIVE = ("Pending", "Running")
TERMINAL = ("Succeeded", "Failed", "Replaced")
MAX_WINDOWS = 100
MAX_FAILURES = 10
MAX_MISSED_COUNTED = 10_000


@dataclasses.dataclass(frozen=True)
class RunObserved:
    """A SparkApplication of the schedule as last seen: its spark-operator state ("" before
    spark-operator picked it up)."""

    name: str
    state: str = ""
    message: str = ""
    created: str | None = None
    finished: str | None = None


@dataclasses.dataclass(frozen=True)
class RunRequest:
    window: Window
    kind: str
    attempt: int
    name: str
    fire_time: dt.datetime | None


@dataclasses.dataclass
class Plan:
    create: list[RunRequest] = dataclasses.field(default_factory=list)
    delete: list[str] = dataclasses.field(default_factory=list)
    status: dict[str, Any] = dataclasses.field(default_factory=dict)
    events: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    remove_run_now: bool = False
    missed: int = 0
    wake_at: dt.datetime | None = None  # when the plan may change with nothing else changing


def iso(instant: dt.datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def set_condition(conditions: list[dict[str, Any]], kind: str, value: bool, reason: str,
                  message: str, now: dt.datetime, generation: int | None) -> None:
    """Set one condition; lastTransitionTime moves only when the status flips."""
    status = "True" if value else "False"
    for cond in conditions:
        if cond["type"] == kind:
            if cond["status"] != status:
                cond["lastTransitionTime"] = iso(now)
            cond.update(status=status, reason=reason, message=message,
                        observedGeneration=generation)
            return
    conditions.append({"type": kind, "status": status, "reason": reason, "message": message,
                       "lastTransitionTime": iso(now), "observedGeneration": generation})


def _window(granularity: str, rec: Mapping[str, Any]) -> Window:
    return one_period(granularity, dt.date.fromisoformat(rec["start"]),
                      dt.date.fromisoformat(rec["end"]))


def _record(window: Window, kind: str, fire: dt.datetime | None = None) -> dict[str, Any]:
    rec: dict[str, Any] = {"window": window.label, "start": window.start.isoformat(),
                           "end": window.end.isoformat(), "kind": kind, "state": "Pending",
                           "attempts": 0, "failures": 0}
    if fire is not None:
        rec["fireTime"] = iso(fire)
    return rec


def _bounded_fires(cron: Cron, zone: ZoneInfo, after: dt.datetime, until: dt.datetime,
                   limit: int) -> Iterator[dt.datetime]:
    for i, fire in enumerate(fire_times(cron, zone, after, until)):
        if i >= limit:
            return
        yield fire


@dataclasses.dataclass
class _Work:
    """What plan() builds, phase by phase: the Plan, the new status and its parts."""

    out: Plan
    st: dict[str, Any]
    conditions: list[dict[str, Any]]
    records: dict[tuple[str, str], dict[str, Any]]  # by (kind, window label)
    failures: list[dict[str, Any]]
    backfill: dict[str, Any] | None

    @classmethod
    def of(cls, status: Mapping[str, Any] | None) -> _Work:
        st: dict[str, Any] = {k: v for k, v in (status or {}).items() if k != "kopf"}
        return cls(Plan(), st, [dict(c) for c in st.get("conditions") or []],
                   {(r["kind"], r["window"]): dict(r) for r in st.get("windows") or []},
                   list(st.get("recentFailures") or []),
                   dict(st["backfill"]) if st.get("backfill") else None)


def plan(name: str, spec: Mapping[str, Any], status: Mapping[str, Any] | None,
         runs: Mapping[str, RunObserved], now: dt.datetime, *, created: dt.datetime | None = None,
         run_now: str | None = None, generation: int | None = None) -> Plan:
    """The plan for schedule `name` at `now`. `created` is the schedule's creation time (the
    first fire time considered is the first after min(created, now))."""
    w = _Work.of(status)
    granularity = spec.get("granularity", "daily")
    _outcomes(w, spec, runs, now)  # 1. Outcomes of the runs started earlier.
    try:  # 2. Is the spec usable?
        parsed = ScheduleSpec.of(spec)
    except Invalid as exc:
        _invalid(w, str(exc), now, generation)
        return _finish(w, runs, spec, now, generation)
    suspended = bool(spec.get("suspend"))
    _due(w, spec, parsed, granularity, suspended, created, now)  # 3. Fire times since the last
    if run_now is not None:  # 4. Run now, by annotation.
        _run_now(w, run_now, granularity, parsed.zone, now)
    _backfill(w, parsed, granularity, suspended)  # 5. Backfill.
    for rec in w.records.values():  # 6. Retries that are due.
        due = parse_time(rec.get("nextAttemptTime"))  # a retry with no time is due at once
        if rec["state"] == "Retrying" and (due is None or due <= now):
            rec["state"] = "Pending"
            rec.pop("nextAttemptTime", None)
    if not suspended:  # 7. Start what may start.
        _start(w.out, name, spec, w.records, granularity, now)
    _next_fire(w, parsed, suspended, now, generation)  # 8. Next fire.
    return _finish(w, runs, spec, now, generation)


def _outcomes(w: _Work, spec: Mapping[str, Any], runs: Mapping[str, RunObserved],
              now: dt.datetime) -> None:
    retry = spec.get("retry") or {}
    retry_limit, backoff = int(retry.get("limit", 3)), float(retry.get("backoffSeconds", 60))
    for rec in w.records.values():
        if rec["state"] != "Running":
            continue
        run = runs.get(rec.get("run", ""))
        if run is None or not (run.state in SUCCEEDED_STATES or run.state in FAILED_STATES):
            continue
        rec["finishedTime"] = run.finished or iso(now)
        if run.state in SUCCEEDED_STATES:
            rec["state"] = "Succeeded"
            rec.pop("nextAttemptTime", None)
            w.out.events.append(("Normal", "RunSucceeded", f"{rec['run']} computed window "
                                                           f"{rec['window']}"))
            if rec["window"] >= w.st.get("lastSuccessfulWindow", ""):
                w.st["lastSuccessfulWindow"] = rec["window"]
                w.st["lastSuccessTime"] = rec["finishedTime"]
            if rec["kind"] == "b" and w.backfill is not None:
                w.backfill["succeeded"] = w.backfill.get("succeeded", 0) + 1
            continue
        _failed(w, rec, run, retry_limit, backoff, now)


def _cause(failures: list[dict[str, Any]], window: str) -> str:
    """": <the message of the window's latest failure>", or "" if none is recorded."""
    message = next((f["message"] for f in reversed(failures) if f["window"] == window), "")
    return f": {message}" if message else ""


def _failed(w: _Work, rec: dict[str, Any], run: RunObserved, retry_limit: int, backoff: float,
            now: dt.datetime) -> None:
    """A run of `rec` failed: retry after a backoff, or give up."""
    rec["failures"] = rec.get("failures", 0) + 1
    message = run.message or run.state
    w.failures.append({"window": rec["window"], "run": rec["run"], "time": iso(now),
                       "message": message[:500]})
    if rec["failures"] <= retry_limit:
        delay = backoff * 2 ** (rec["failures"] - 1)
        rec["state"] = "Retrying"
        rec["nextAttemptTime"] = iso(now + dt.timedelta(seconds=delay))
        w.out.events.append(("Warning", "RunFailed", f"{rec['run']} failed for window "
                             f"{rec['window']}: {message}; retry {rec['failures']} of "
                             f"{retry_limit} at {rec['nextAttemptTime']}"))
    else:
        rec["state"] = "Failed"
        w.out.events.append(("Warning", "RunFailed", f"{rec['run']} failed for window "
                             f"{rec['window']}: {message}; no retries left"))
        if rec["kind"] == "b" and w.backfill is not None:
            w.backfill["failed"] = w.backfill.get("failed", 0) + 1


def _invalid(w: _Work, message: str, now: dt.datetime, generation: int | None) -> None:
    previous = next((c for c in w.conditions if c["type"] == "Ready"), None)
    if previous is None or previous.get("message") != message:
        w.out.events.append(("Warning", "InvalidSpec", message))
    set_condition(w.conditions, "Ready", False, "InvalidSpec", message, now, generation)
    set_condition(w.conditions, "Scheduled", False, "InvalidSpec", "no runs while the spec is "
                  "invalid", now, generation)
    w.st.pop("nextRunTime", None)


def _due(w: _Work, spec: Mapping[str, Any], parsed: ScheduleSpec, granularity: str, suspended: bool,
         created: dt.datetime | None, now: dt.datetime) -> None:
    """The scheduled windows of the fire times since the last one handled; those past the
    starting deadline or beyond maxCatchUp are counted as missed."""
    last = parse_time(w.st.get("lastScheduleTime")) or min(created or now, now)
    w.st["lastScheduleTime"] = iso(last)
    if suspended:
        return
    deadline = now - dt.timedelta(seconds=int(spec.get("startingDeadlineSeconds", 86400)))
    missed = sum(1 for _ in _bounded_fires(parsed.cron, parsed.zone, last, min(deadline, now),
                                           MAX_MISSED_COUNTED)) if last < deadline else 0
    due = list(fire_times(parsed.cron, parsed.zone, max(last, deadline), now))
    catch_up = int(spec.get("maxCatchUp", 10))
    if len(due) > catch_up:
        missed += len(due) - catch_up
        due = due[-catch_up:]
    if missed:
        w.out.missed = missed
        w.out.events.append(("Warning", "MissedRuns", f"{missed} fire time(s) after "
                             f"{iso(last)} were not run: later than startingDeadlineSeconds "
                             "or beyond maxCatchUp"))
    for fire in due:
        window = of_fire(granularity, fire, parsed.zone)
        rec = w.records.get(("s", window.label))
        if rec is None:
            w.records[("s", window.label)] = _record(window, "s", fire)
        elif spec.get("mode") == "dirty" and rec["state"] in TERMINAL:
            # A dirty run aggregates whatever is dirty when it runs, not its window: each
            # fire after the window's last run ended is a new run (the record's next attempt).
            rec.update(state="Pending", failures=0, fireTime=iso(fire))
            rec.pop("nextAttemptTime", None)
    w.st["lastScheduleTime"] = iso(now if missed and not due else (due[-1] if due else last))


def _run_now(w: _Work, run_now: str, granularity: str, zone: ZoneInfo, now: dt.datetime) -> None:
    w.out.remove_run_now = True
    if run_now == w.st.get("runNow"):
        return
    w.st["runNow"] = run_now
    try:
        window = (of_fire(granularity, now, zone) if run_now.strip() == "latest"
                  else containing(granularity, dt.date.fromisoformat(run_now.strip())))
    except (ValueError, WindowError):
        w.out.events.append(("Warning", "InvalidRunNow", f"{k8s.RUN_NOW_ANNOTATION}={run_now!r}"
                             " is neither a date (YYYY-MM-DD) nor 'latest'"))
        return
    rec = w.records.get(("n", window.label))
    if rec is None:
        w.records[("n", window.label)] = _record(window, "n")
    elif rec["state"] not in ACTIVE:
        rec.update(state="Pending", failures=0)
        rec.pop("nextAttemptTime", None)


def _backfill(w: _Work, parsed: ScheduleSpec, granularity: str, suspended: bool) -> None:
    """The backfill's next windows, up to its maxConcurrent unfinished at a time."""
    if parsed.backfill is None:
        w.backfill = None
        return
    first, last_day, max_concurrent = parsed.backfill
    key = f"{first}..{last_day}"
    windows = between(granularity, first, last_day)
    if w.backfill is None or w.backfill.get("range") != key:
        w.backfill = {"range": key, "total": len(windows), "succeeded": 0, "failed": 0,
                      "next": windows[0].label if windows else None}
    active = sum(1 for (kind, _), r in w.records.items()
                 if kind == "b" and r["state"] in ("Pending", "Running", "Retrying"))
    labels = [win.label for win in windows]
    while not suspended and w.backfill.get("next") and active < max_concurrent:
        index = labels.index(w.backfill["next"])
        w.records.setdefault(("b", windows[index].label), _record(windows[index], "b"))
        active += 1
        w.backfill["next"] = labels[index + 1] if index + 1 < len(labels) else None


def _next_fire(w: _Work, parsed: ScheduleSpec, suspended: bool, now: dt.datetime,
               generation: int | None) -> None:
    if suspended:
        w.st.pop("nextRunTime", None)
    else:
        upcoming = next_fire(parsed.cron, parsed.zone,
                             max(now, parse_time(w.st["lastScheduleTime"]) or now))
        if upcoming is None:
            w.st.pop("nextRunTime", None)
        else:
            w.st["nextRunTime"] = iso(upcoming)
    set_condition(w.conditions, "Ready", True, "Suspended" if suspended else "Running",
                  "suspended: no new runs" if suspended else "the schedule is valid and active",
                  now, generation)
    set_condition(w.conditions, "Scheduled", not suspended and "nextRunTime" in w.st,
                  "Suspended" if suspended else "NextRunPlanned",
                  "suspended" if suspended else f"next run at {w.st.get('nextRunTime')}",
                  now, generation)


def _start(out: Plan, name: str, spec: Mapping[str, Any], records: dict[tuple[str, str], dict],
           granularity: str, now: dt.datetime) -> None:
    policy = spec.get("concurrencyPolicy", "Forbid")
    pending = sorted((r for r in records.values() if r["state"] == "Pending"),
                     key=lambda r: (r["start"], r["kind"]))
    starting = [r for r in pending if r["kind"] == "b"]
    scheduled = [r for r in pending if r["kind"] != "b"]
    running = [r for r in records.values() if r["state"] == "Running" and r["kind"] != "b"]
    if scheduled:
        if policy == "Allow":
            starting += scheduled
        elif policy == "Forbid":
            if not running:
                starting.append(scheduled[0])
        else:  # Replace: the newest window replaces the active runs and older pending ones
            for rec in running + scheduled[:-1]:
                if rec["state"] == "Running":
                    out.delete.append(rec["run"])
                rec["state"] = "Replaced"
                rec["finishedTime"] = iso(now)
                out.events.append(("Normal", "RunReplaced", f"window {rec['window']} was "
                                   f"replaced by window {scheduled[-1]['window']}"))
            starting.append(scheduled[-1])
    for rec in starting:
        window = _window(granularity, rec)
        attempt = rec.get("attempts", 0)
        run = naming.run_name(name, rec["kind"], window, attempt)
        fire = parse_time(rec.get("fireTime"))
        out.create.append(RunRequest(window, rec["kind"], attempt, run, fire))
        rec.update(state="Running", run=run, attempts=attempt + 1, startedTime=iso(now))
        rec.pop("finishedTime", None)
        out.events.append(("Normal", "RunCreated", f"{run} for window {rec['window']}"))


def _finish(w: _Work, runs: Mapping[str, RunObserved], spec: Mapping[str, Any],
            now: dt.datetime, generation: int | None) -> Plan:
    out, st, conditions, records = w.out, w.st, w.conditions, w.records
    failures, backfill_state = w.failures, w.backfill
    # History: delete finished runs beyond the limits, newest kept.
    live = {r["run"] for r in records.values() if r["state"] in ACTIVE and r.get("run")}
    for states, limit in ((SUCCEEDED_STATES, spec.get("successfulRunsHistoryLimit", 3)),
                          (FAILED_STATES, spec.get("failedRunsHistoryLimit", 1))):
        done = sorted((r for r in runs.values() if r.state in states and r.name not in live
                       and r.name not in out.delete),
                      key=lambda r: (r.finished or r.created or "", r.name), reverse=True)
        out.delete += [r.name for r in done[int(limit):]]

    # Records: every unfinished one, then the newest finished ones.
    ordered = sorted(records.values(), key=lambda r: (r["start"], r["kind"]))
    unfinished = [r for r in ordered if r["state"] not in TERMINAL]
    finished = sorted((r for r in ordered if r["state"] in TERMINAL),
                      key=lambda r: r.get("finishedTime", ""), reverse=True)
    keep = unfinished + finished[:max(0, MAX_WINDOWS - len(unfinished))]
    st["windows"] = sorted(keep, key=lambda r: (r["start"], r["kind"]))
    st["active"] = [{"name": r["run"], "window": r["window"], "kind": r["kind"],
                     "attempt": r["attempts"] - 1} for r in st["windows"] if r["state"] == "Running"]
    st["recentFailures"] = failures[-MAX_FAILURES:]
    if backfill_state is not None:
        backfill_state["active"] = sum(1 for r in st["windows"]
                                       if r["kind"] == "b" and r["state"] == "Running")
        st["backfill"] = backfill_state
    else:
        st.pop("backfill", None)
    exhausted = [r for r in st["windows"] if r["state"] == "Failed"]
    retrying = [r for r in st["windows"] if r["state"] == "Retrying"]
    if exhausted:
        set_condition(conditions, "Failing", True, "RetriesExhausted",
                      f"window {exhausted[-1]['window']} failed {exhausted[-1]['failures']} "
                      f"time(s){_cause(failures, exhausted[-1]['window'])}; no retries left",
                      now, generation)
    elif retrying:
        set_condition(conditions, "Failing", True, "Retrying",
                      f"window {retrying[-1]['window']} failed"
                      f"{_cause(failures, retrying[-1]['window'])}; retry at "
                      f"{retrying[-1]['nextAttemptTime']}", now, generation)
    else:
        set_condition(conditions, "Failing", False, "NoFailures",
                      "no window is failing", now, generation)
    st["conditions"] = sorted(conditions, key=lambda c: ("Ready", "Scheduled", "Failing").index(
        c["type"]) if c["type"] in ("Ready", "Scheduled", "Failing") else 9)
    st["observedGeneration"] = generation
    out.status = st
    times = [parse_time(st.get("nextRunTime"))] + [parse_time(r.get("nextAttemptTime"))
                                                   for r in retrying]
    out.wake_at = min((t for t in times if t is not None), default=None)
    return out
