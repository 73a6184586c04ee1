"""What an AggregationSchedule needs now: pure logic, no I/O.

`plan()` takes the schedule (spec and status as stored), the SparkApplications it owns (as the
operator last saw them) and the time, and returns the runs to create and delete, the new
status and the Events to post. The kopf handlers only carry the plan out, so every behaviour
(catch-up, backfill, concurrency, retries, history, run-now) is decided here.

Status keeps one record per (kind, window) in `status.windows` (`WindowRecord`); a record moves
Pending -> Running -> Succeeded, or Running -> Retrying -> Pending ... -> Failed, or to
Replaced. Run names are deterministic (schedule, kind, window, attempt), so a run created just
before a restart is found again by name instead of being created twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum
from typing import Any

from smartwatch import k8s
from smartwatch.periods import Window, WindowError, between, containing, of_fire, one_period
from smartwatch_operator import naming
from smartwatch_operator.cron import Cron, fire_times, next_fire
from smartwatch_operator.naming import RunKind
from smartwatch_operator.spec import Backfill, Invalid, Mode, Policies, Policy, ScheduleSpec

UTC = dt.UTC
#: spark-operator's application states of a run that ended.
SUCCEEDED_STATES = frozenset({"COMPLETED"})
FAILED_STATES = frozenset({"FAILED", "SUBMISSION_FAILED"})
#: spark-operator's states of a run not running yet ("": not picked up, or not seen yet).
UNSTARTED_STATES = frozenset({"", "SUBMITTED", "PENDING_RERUN"})
MAX_WINDOWS = 100
MAX_FAILURES = 10
MAX_MISSED_COUNTED = 10_000


class State(StrEnum):
    """A window record's state (status.windows[].state)."""

    PENDING = "Pending"
    RUNNING = "Running"
    RETRYING = "Retrying"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    REPLACED = "Replaced"


ACTIVE = frozenset({State.PENDING, State.RUNNING})
TERMINAL = frozenset({State.SUCCEEDED, State.FAILED, State.REPLACED})
#: The condition types, in the order status lists them.
CONDITIONS = ("Ready", "Scheduled", "Failing")


def iso(instant: dt.datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _iso_or_none(instant: dt.datetime | None) -> str | None:
    return None if instant is None else iso(instant)


@dataclasses.dataclass
class WindowRecord:
    """One window's record: why it runs (kind), its state, its run and attempts, and when."""

    label: str
    start: dt.date
    end: dt.date
    kind: RunKind
    state: State = State.PENDING
    attempts: int = 0
    failures: int = 0
    fire_time: dt.datetime | None = None
    run: str | None = None
    started: dt.datetime | None = None
    finished: dt.datetime | None = None
    next_attempt: dt.datetime | None = None

    @classmethod
    def new(cls, window: Window, kind: RunKind, fire: dt.datetime | None = None) -> WindowRecord:
        return cls(window.label, window.start, window.end, kind, fire_time=fire)

    @classmethod
    def of(cls, rec: Mapping[str, Any]) -> WindowRecord:
        """A record as stored in status.windows."""
        return cls(rec["window"], dt.date.fromisoformat(rec["start"]),
                   dt.date.fromisoformat(rec["end"]), RunKind(rec["kind"]), State(rec["state"]),
                   int(rec.get("attempts", 0)), int(rec.get("failures", 0)),
                   parse_time(rec.get("fireTime")), rec.get("run"),
                   parse_time(rec.get("startedTime")), parse_time(rec.get("finishedTime")),
                   parse_time(rec.get("nextAttemptTime")))

    def stored(self) -> dict[str, Any]:
        """The record as status.windows holds it (absent times left out)."""
        rec: dict[str, Any] = {"window": self.label, "start": self.start.isoformat(),
                               "end": self.end.isoformat(), "kind": self.kind.value,
                               "state": self.state.value, "attempts": self.attempts,
                               "failures": self.failures}
        optional = {"fireTime": _iso_or_none(self.fire_time), "run": self.run,
                    "startedTime": _iso_or_none(self.started),
                    "finishedTime": _iso_or_none(self.finished),
                    "nextAttemptTime": _iso_or_none(self.next_attempt)}
        rec.update({k: v for k, v in optional.items() if v is not None})
        return rec

    @property
    def key(self) -> tuple[RunKind, str]:
        return self.kind, self.label

    @property
    def order(self) -> tuple[dt.date, str]:
        return self.start, self.kind.value

    def window(self, granularity: str) -> Window:
        return one_period(granularity, self.start, self.end)

    def again(self, fire: dt.datetime | None = None) -> None:
        """Pending once more, its failures forgotten (a new fire, or a run-now)."""
        self.state, self.failures, self.next_attempt = State.PENDING, 0, None
        if fire is not None:
            self.fire_time = fire


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
    kind: RunKind
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


def _bounded_fires(cron: Cron, zone: Any, after: dt.datetime, until: dt.datetime,
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
    records: dict[tuple[RunKind, str], WindowRecord]
    failures: list[dict[str, Any]]
    backfill: dict[str, Any] | None

    @classmethod
    def of(cls, status: Mapping[str, Any] | None) -> _Work:
        st: dict[str, Any] = {k: v for k, v in (status or {}).items() if k != "kopf"}
        records = (WindowRecord.of(r) for r in st.get("windows") or [])
        return cls(Plan(), st, [dict(c) for c in st.get("conditions") or []],
                   {r.key: r for r in records}, list(st.get("recentFailures") or []),
                   dict(st["backfill"]) if st.get("backfill") else None)

    def add(self, record: WindowRecord) -> WindowRecord:
        """The record of `record`'s key: the one there, else `record`, now added."""
        return self.records.setdefault(record.key, record)

    def event(self, kind: str, reason: str, message: str) -> None:
        self.out.events.append((kind, reason, message))

    def of_kind(self, kind: RunKind, states: Iterable[State]) -> list[WindowRecord]:
        wanted = frozenset(states)
        return [r for r in self.records.values() if r.kind == kind and r.state in wanted]


def plan(name: str, spec: Mapping[str, Any], status: Mapping[str, Any] | None,
         runs: Mapping[str, RunObserved], now: dt.datetime, *, created: dt.datetime | None = None,
         run_now: str | None = None, generation: int | None = None,
         blocked: tuple[str, str] | None = None) -> Plan:
    """The plan for schedule `name` at `now`. `created` is the schedule's creation time (the
    first fire time considered is the first after min(created, now)). `blocked` (a reason and
    a message: no spark-operator, say) holds every run back: windows stay Pending, and Ready
    is False with that reason."""
    w = _Work.of(status)
    policies = Policies.of(spec)
    _outcomes(w, policies, runs, now)  # 1. Outcomes of the runs started earlier.
    try:  # 2. Is the spec usable?
        parsed = ScheduleSpec.of(spec)
    except Invalid as exc:
        _invalid(w, str(exc), now, generation)
        return _finish(w, runs, policies, now, generation)
    _due(w, parsed, created, now)  # 3. Fire times since the last one handled.
    if run_now is not None:  # 4. Run now, by annotation.
        _run_now(w, run_now, parsed, now)
    else:  # the annotation handled is gone: the same value again is a new request
        w.st.pop("runNow", None)
    _backfill(w, parsed)  # 5. Backfill.
    for rec in w.records.values():  # 6. Retries that are due (one with no time at once).
        if rec.state == State.RETRYING and (rec.next_attempt is None or rec.next_attempt <= now):
            rec.state, rec.next_attempt = State.PENDING, None
    if not policies.suspend and blocked is None:  # 7. Start what may start.
        _start(w, name, parsed, now)
    _next_fire(w, parsed, now, generation)  # 8. Next fire.
    if blocked is not None:
        set_condition(w.conditions, "Ready", False, *blocked, now, generation)
    return _finish(w, runs, policies, now, generation)


def _outcomes(w: _Work, policies: Policies, runs: Mapping[str, RunObserved],
              now: dt.datetime) -> None:
    for rec in w.records.values():
        if rec.state != State.RUNNING:
            continue
        run = runs.get(rec.run or "")
        if run is None or not (run.state in SUCCEEDED_STATES or run.state in FAILED_STATES):
            overdue = _overdue(rec, run, policies, now)
            if overdue is not None and rec.run:  # deleted, and failed with the deadline's reason
                w.out.delete.append(rec.run)
                rec.finished = now
                _failed(w, rec, overdue, policies, now, reason="RunDeadlineExceeded")
            continue
        rec.finished = parse_time(run.finished) or now
        if run.state in FAILED_STATES:
            _failed(w, rec, run, policies, now)
            continue
        rec.state, rec.next_attempt = State.SUCCEEDED, None
        w.event("Normal", "RunSucceeded", f"{rec.run} computed window {rec.label}")
        if rec.label >= w.st.get("lastSuccessfulWindow", ""):
            w.st["lastSuccessfulWindow"] = rec.label
            w.st["lastSuccessTime"] = iso(rec.finished)
        if rec.kind == RunKind.BACKFILL and w.backfill is not None:
            w.backfill["succeeded"] = w.backfill.get("succeeded", 0) + 1


def _cause(failures: list[dict[str, Any]], window: str) -> str:
    """": <the message of the window's latest failure>", or "" if none is recorded."""
    message = next((f["message"] for f in reversed(failures) if f["window"] == window), "")
    return f": {message}" if message else ""


def _overdue(rec: WindowRecord, run: RunObserved | None, policies: Policies,
             now: dt.datetime) -> RunObserved | None:
    """The run of `rec` as failed by a deadline (its message naming the deadline and the
    run's last state), or None while it is within its deadlines."""
    if rec.started is None or rec.run is None:
        return None
    state = run.state if run is not None else ""
    last = f"last state {state}" if state else "spark-operator never reported it"
    age = now - rec.started
    if state in UNSTARTED_STATES and age >= policies.start_deadline:
        message = (f"not started within deadlines.startSeconds "
                   f"({policies.start_deadline.total_seconds():.0f} s); {last}")
    elif age >= policies.run_deadline:
        message = (f"not ended within deadlines.runSeconds "
                   f"({policies.run_deadline.total_seconds():.0f} s); {last}")
    else:
        return None
    return RunObserved(rec.run, state or "NOT_STARTED", message)


def _failed(w: _Work, rec: WindowRecord, run: RunObserved, policies: Policies,
            now: dt.datetime, reason: str = "RunFailed") -> None:
    """A run of `rec` failed: retry after a backoff, or give up."""
    rec.failures += 1
    message = run.message or run.state
    w.failures.append({"window": rec.label, "run": rec.run, "time": iso(now),
                       "message": message[:500]})
    limit = policies.retry_limit
    if rec.failures <= limit:
        delay = policies.backoff_seconds * 2 ** (rec.failures - 1)
        rec.state, rec.next_attempt = State.RETRYING, now + dt.timedelta(seconds=delay)
        w.event("Warning", reason, f"{rec.run} failed for window {rec.label}: {message}; "
                f"retry {rec.failures} of {limit} at {iso(rec.next_attempt)}")
        return
    rec.state = State.FAILED
    w.event("Warning", reason, f"{rec.run} failed for window {rec.label}: {message}; "
            "no retries left")
    if rec.kind == RunKind.BACKFILL and w.backfill is not None:
        w.backfill["failed"] = w.backfill.get("failed", 0) + 1


def _invalid(w: _Work, message: str, now: dt.datetime, generation: int | None) -> None:
    previous = next((c for c in w.conditions if c["type"] == "Ready"), None)
    if previous is None or previous.get("message") != message:
        w.event("Warning", "InvalidSpec", message)
    set_condition(w.conditions, "Ready", False, "InvalidSpec", message, now, generation)
    set_condition(w.conditions, "Scheduled", False, "InvalidSpec", "no runs while the spec is "
                  "invalid", now, generation)
    w.st.pop("nextRunTime", None)


def _due(w: _Work, parsed: ScheduleSpec, created: dt.datetime | None,
         now: dt.datetime) -> None:
    """The scheduled windows of the fire times since the last one handled; those past the
    starting deadline or beyond maxCatchUp are counted as missed."""
    policies = parsed.policies
    last = parse_time(w.st.get("lastScheduleTime")) or min(created or now, now)
    w.st["lastScheduleTime"] = iso(last)
    if policies.suspend:
        return
    deadline = now - policies.starting_deadline
    missed = sum(1 for _ in _bounded_fires(parsed.cron, parsed.zone, last, min(deadline, now),
                                           MAX_MISSED_COUNTED)) if last < deadline else 0
    due = list(fire_times(parsed.cron, parsed.zone, max(last, deadline), now))
    if len(due) > policies.max_catch_up:
        missed += len(due) - policies.max_catch_up
        due = due[-policies.max_catch_up:]
    if missed:
        w.out.missed = missed
        w.event("Warning", "MissedRuns", f"{missed} fire time(s) after {iso(last)} were not "
                "run: later than startingDeadlineSeconds or beyond maxCatchUp")
    for fire in due:
        window = of_fire(parsed.granularity, fire, parsed.zone)
        rec = w.records.get((RunKind.SCHEDULED, window.label))
        if rec is None:
            w.add(WindowRecord.new(window, RunKind.SCHEDULED, fire))
        elif policies.mode == Mode.DIRTY and rec.state in TERMINAL:
            # A dirty run aggregates whatever is dirty when it runs, not its window: each
            # fire after the window's last run ended is a new run (the record's next attempt).
            rec.again(fire)
    w.st["lastScheduleTime"] = iso(now if missed and not due else (due[-1] if due else last))


def _run_now(w: _Work, run_now: str, parsed: ScheduleSpec, now: dt.datetime) -> None:
    w.out.remove_run_now = True
    if run_now == w.st.get("runNow"):
        return
    w.st["runNow"] = run_now
    try:
        window = (of_fire(parsed.granularity, now, parsed.zone) if run_now.strip() == "latest"
                  else containing(parsed.granularity, dt.date.fromisoformat(run_now.strip())))
    except (ValueError, WindowError):
        w.event("Warning", "InvalidRunNow", f"{k8s.RUN_NOW_ANNOTATION}={run_now!r} is neither "
                "a date (YYYY-MM-DD) nor 'latest'")
        return
    rec = w.add(WindowRecord.new(window, RunKind.RUN_NOW))
    if rec.state not in ACTIVE:
        rec.again()


def _backfill(w: _Work, parsed: ScheduleSpec) -> None:
    """The backfill's next windows, up to its maxConcurrent unfinished at a time."""
    backfill: Backfill | None = parsed.backfill
    if backfill is None:
        w.backfill = None
        return
    windows = between(parsed.granularity, backfill.first, backfill.last)
    if w.backfill is None or w.backfill.get("range") != backfill.key:
        w.backfill = {"range": backfill.key, "total": len(windows), "succeeded": 0, "failed": 0,
                      "next": windows[0].label if windows else None}
    active = len(w.of_kind(RunKind.BACKFILL, (State.PENDING, State.RUNNING, State.RETRYING)))
    labels = [win.label for win in windows]
    while not parsed.policies.suspend and w.backfill.get("next") \
            and active < backfill.max_concurrent:
        index = labels.index(w.backfill["next"])
        w.add(WindowRecord.new(windows[index], RunKind.BACKFILL))
        active += 1
        w.backfill["next"] = labels[index + 1] if index + 1 < len(labels) else None


def _next_fire(w: _Work, parsed: ScheduleSpec, now: dt.datetime, generation: int | None) -> None:
    suspended = parsed.policies.suspend
    upcoming = None if suspended else next_fire(
        parsed.cron, parsed.zone, max(now, parse_time(w.st["lastScheduleTime"]) or now))
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


def _start(w: _Work, name: str, parsed: ScheduleSpec, now: dt.datetime) -> None:
    """Start the pending backfill windows, and the pending scheduled and run-now windows as
    the concurrency policy lets them."""
    pending = sorted((r for r in w.records.values() if r.state == State.PENDING),
                     key=lambda r: r.order)
    starting = [r for r in pending if r.kind == RunKind.BACKFILL]
    scheduled = [r for r in pending if r.kind != RunKind.BACKFILL]
    running = [r for r in w.records.values()
               if r.state == State.RUNNING and r.kind != RunKind.BACKFILL]
    policy = parsed.policies.concurrency
    if scheduled:
        if policy == Policy.ALLOW:
            starting += scheduled
        elif policy == Policy.FORBID:
            if not running:
                starting.append(scheduled[0])
        else:  # Replace: the newest window replaces the active runs and older pending ones
            for rec in running + scheduled[:-1]:
                if rec.state == State.RUNNING and rec.run:
                    w.out.delete.append(rec.run)
                rec.state, rec.finished = State.REPLACED, now
                w.event("Normal", "RunReplaced", f"window {rec.label} was replaced by window "
                        f"{scheduled[-1].label}")
            starting.append(scheduled[-1])
    for rec in starting:
        window = rec.window(parsed.granularity)
        run = naming.run_name(name, rec.kind, window, rec.attempts)
        w.out.create.append(RunRequest(window, rec.kind, rec.attempts, run, rec.fire_time))
        rec.state, rec.run, rec.started, rec.finished = State.RUNNING, run, now, None
        rec.attempts += 1
        w.event("Normal", "RunCreated", f"{run} for window {rec.label}")


def _prune(w: _Work, runs: Mapping[str, RunObserved], policies: Policies) -> None:
    """History: delete finished runs beyond the limits, the newest kept."""
    live = {r.run for r in w.records.values() if r.state in ACTIVE and r.run}
    for states, limit in ((SUCCEEDED_STATES, policies.successful_history),
                          (FAILED_STATES, policies.failed_history)):
        done = sorted((r for r in runs.values() if r.state in states and r.name not in live
                       and r.name not in w.out.delete),
                      key=lambda r: (r.finished or r.created or "", r.name), reverse=True)
        w.out.delete += [r.name for r in done[limit:]]


def _kept(records: Iterable[WindowRecord]) -> list[WindowRecord]:
    """Every unfinished record, then the newest finished ones, MAX_WINDOWS in all."""
    ordered = sorted(records, key=lambda r: r.order)
    unfinished = [r for r in ordered if r.state not in TERMINAL]
    oldest = dt.datetime.min.replace(tzinfo=UTC)
    finished = sorted((r for r in ordered if r.state in TERMINAL),
                      key=lambda r: r.finished or oldest, reverse=True)
    keep = unfinished + finished[:max(0, MAX_WINDOWS - len(unfinished))]
    return sorted(keep, key=lambda r: r.order)


def _failing(w: _Work, kept: list[WindowRecord], now: dt.datetime,
             generation: int | None) -> None:
    exhausted = [r for r in kept if r.state == State.FAILED]
    retrying = [r for r in kept if r.state == State.RETRYING]
    if exhausted:
        last = exhausted[-1]
        set_condition(w.conditions, "Failing", True, "RetriesExhausted",
                      f"window {last.label} failed {last.failures} time(s)"
                      f"{_cause(w.failures, last.label)}; no retries left", now, generation)
    elif retrying:
        last = retrying[-1]
        set_condition(w.conditions, "Failing", True, "Retrying",
                      f"window {last.label} failed{_cause(w.failures, last.label)}; retry at "
                      f"{_iso_or_none(last.next_attempt)}", now, generation)
    else:
        set_condition(w.conditions, "Failing", False, "NoFailures", "no window is failing",
                      now, generation)


def _finish(w: _Work, runs: Mapping[str, RunObserved], policies: Policies, now: dt.datetime,
            generation: int | None) -> Plan:
    _prune(w, runs, policies)
    kept, st = _kept(w.records.values()), w.st
    st["windows"] = [r.stored() for r in kept]
    st["active"] = [{"name": r.run, "window": r.label, "kind": r.kind.value,
                     "attempt": r.attempts - 1} for r in kept if r.state == State.RUNNING]
    st["recentFailures"] = w.failures[-MAX_FAILURES:]
    if w.backfill is not None:
        w.backfill["active"] = sum(1 for r in kept
                                   if r.kind == RunKind.BACKFILL and r.state == State.RUNNING)
        st["backfill"] = w.backfill
    else:
        st.pop("backfill", None)
    _failing(w, kept, now, generation)
    st["conditions"] = sorted(w.conditions, key=lambda c: CONDITIONS.index(c["type"])
                              if c["type"] in CONDITIONS else len(CONDITIONS))
    st["observedGeneration"] = generation
    w.out.status = st
    times = [parse_time(st.get("nextRunTime"))] + [r.next_attempt for r in kept
                                                   if r.state == State.RETRYING]
    for r in kept:  # the deadlines of the runs still going
        if r.state == State.RUNNING and r.started is not None:
            times += [t for t in (r.started + policies.start_deadline,
                                  r.started + policies.run_deadline) if t > now]
    w.out.wake_at = min((t for t in times if t is not None), default=None)
    return w.out
