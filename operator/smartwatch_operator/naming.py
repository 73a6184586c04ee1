"""Deterministic names of runs (SparkApplications) and label values (docs/operator.md)."""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum

from smartwatch.periods import Window

MAX_NAME = 63


class RunKind(StrEnum):
    """Why a run exists; its value is the letter in the run's name and status records."""

    SCHEDULED = "s"
    BACKFILL = "b"
    RUN_NOW = "n"


KINDS = {RunKind.SCHEDULED: "scheduled", RunKind.BACKFILL: "backfill", RunKind.RUN_NOW: "run now"}
_HASH_CHARS = 8


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH_CHARS]


def compact_label(window: Window) -> str:
    """The window as it appears in a run name: `20261127`, `2026w48`, `202611`."""
    return window.label.replace("-", "").lower()


def _schedule_part(schedule: str) -> str:
    """The schedule name as a name prefix: lower-case, every character other than a-z, 0-9
    and `-` (dots of a DNS subdomain name) replaced by `-`, and `a-` in front when it would
    not start with a letter."""
    if not schedule:
        raise ValueError("the schedule name is empty")
    part = re.sub(r"[^a-z0-9-]", "-", schedule.lower())
    return part if part[0].isalpha() else f"a-{part}"


def run_name(schedule: str, kind: str, window: Window, attempt: int = 0) -> str:
    """The SparkApplication name of one run: `<schedule>-<kind><window>[-r<attempt>]`.

    kind: `s` scheduled, `b` backfill, `n` run now; `-r<attempt>` only for attempt > 0.
    The schedule part is the schedule name lower-cased with dots as `-`, prefixed by `a-`
    when it starts with a digit, so every name is a DNS-1123 label that starts with a letter
    (usable where Kubernetes wants a DNS-1035 label). A name longer than 63 characters keeps
    a prefix of the schedule part, then the whole kind/window/attempt part, then `-` and the
    first 8 hex digits of the SHA-256 of the full name: `<prefix>-s20261127-r2-1a2b3c4d`,
    at most 63 characters (63 unless the prefix ends in `-`, which is dropped). A name that
    fits never ends in `-` and 8 hex digits, so shortened names cannot collide with it.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown run kind {kind!r}; choose {', '.join(KINDS)}")
    if attempt < 0:
        raise ValueError(f"attempt {attempt} is negative")
    tail = f"-{kind}{compact_label(window)}" + (f"-r{attempt}" if attempt else "")
    full = _schedule_part(schedule) + tail
    if len(full) <= MAX_NAME:
        return full
    prefix = full[:MAX_NAME - len(tail) - 1 - _HASH_CHARS].rstrip("-")
    return f"{prefix}{tail}-{_hash(full)}"


def label_value(value: str) -> str:
    """A string as a Kubernetes label value (at most 63 characters): unchanged when it fits
    (object names are valid label values up to that length), else its first 54 characters
    (trailing `-` and `.` dropped), `-` and 8 hex digits of its SHA-256. Use it for the
    `smartwatch.dev/schedule` label and for selectors on it."""
    if len(value) <= MAX_NAME:
        return value
    return f"{value[:MAX_NAME - 1 - _HASH_CHARS].rstrip('-.')}-{_hash(value)}"
