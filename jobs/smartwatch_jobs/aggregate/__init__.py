"""The aggregation job: per-user daily, weekly and monthly figures from the lake into Postgres.

A day is the owner's local calendar day in their IANA zone (23 or 25 hours around DST
changes); a week is an ISO week labelled with its ISO year; a month is a local calendar month
(smartwatch.periods). Each reading (one device's one event_id) counts once. Every period's
figures come from counts, sums, minima and maxima of the readings themselves, never from
averages of averages.

A run computes one window (whole periods) and replaces exactly that window's rows in one
transaction; other windows are untouched and readers never see a half-written window.

By concern: `transforms` (DataFrame -> DataFrame), `owners` (owner keys and zone offsets),
`lake` (reading), `compute` (the transforms chained), `store` (Postgres), `runs` (run
bookkeeping and dirty dates) and `job` (run_window, run_dirty).
"""

from smartwatch.periods import GRANULARITIES, Window, WindowError, align, merge_windows
from smartwatch_jobs.aggregate.compute import figures
from smartwatch_jobs.aggregate.job import anything_dirty, run_dirty, run_window
from smartwatch_jobs.aggregate.lake import read_events
from smartwatch_jobs.aggregate.owners import Owners, make_owners
from smartwatch_jobs.aggregate.runs import (
    RUN_NAME_MAX,
    RunConflict,
    RunNameError,
    RunResult,
    check_run_name,
    claim_run,
    dirty_utc_dates,
    refuse_succeeded,
    window_run_name,
)
from smartwatch_jobs.aggregate.transforms import first_copies_added, utc_text
from smartwatch_jobs.lakeroot import LakeError

__all__ = [
    "GRANULARITIES",
    "RUN_NAME_MAX",
    "LakeError",
    "Owners",
    "RunConflict",
    "RunNameError",
    "RunResult",
    "Window",
    "WindowError",
    "align",
    "anything_dirty",
    "check_run_name",
    "claim_run",
    "dirty_utc_dates",
    "figures",
    "first_copies_added",
    "make_owners",
    "merge_windows",
    "read_events",
    "refuse_succeeded",
    "run_dirty",
    "run_window",
    "utc_text",
    "window_run_name",
]
