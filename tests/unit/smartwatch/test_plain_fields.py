"""The API's hand-written check of plain events (`plain_fields`) against EventIn, the
pydantic model it stands in for: on every value it accepts, the same fields as EventIn; on
values EventIn rejects, it defers (None). Values are generated around each field's edges."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartwatch.events import (
    MAX_STEPS_PER_READING,
    EventRejected,
    checked_fields,
    plain_fields,
)

pytestmark = pytest.mark.unit

ODD_TEXT = st.sampled_from(["", " ", "a b", " x", "x ", "\t", "\x1c", "é", "x" * 128,
                            "x" * 129, "\x7f", "ok", "AWAKE", " deep ", "restless", "nap"])
NUMBERS = st.one_of(st.integers(-5, 40_000), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([19, 20, 250, 251, 19.999, 250.0001, 0, -1,
                                     MAX_STEPS_PER_READING, MAX_STEPS_PER_READING + 1, 3.0,
                                     math.inf, math.nan]))
ANY = st.one_of(st.none(), st.booleans(), NUMBERS, ODD_TEXT, st.text(max_size=6),
                st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2),
                                                                     st.integers(), max_size=1))
TIMES = st.one_of(ANY, st.sampled_from(["2026-06-01T10:00:00Z", " 2026-06-01T10:00:00Z",
                                        "2026-06-01 10:00:00.500", "2026-06-01",
                                        1_780_000_000, 1.78e9]))
FIELDS = {
    "schema_version": st.one_of(st.just(1), st.just(1.0), st.just(True), st.just(2), ANY),
    "event_id": st.one_of(st.text(min_size=1, max_size=8), ANY),
    "device_id": st.one_of(st.sampled_from(["dev-1", "w" * 128, "w" * 129, "a/b~!"]),
                           st.integers(0, 10), ANY),
    "measured_at": TIMES,
    "heart_rate_bpm": st.one_of(st.floats(10, 260), st.integers(10, 260), ANY),
    "steps": st.one_of(st.integers(-2, MAX_STEPS_PER_READING + 2), ANY),
    "sleep_state": st.one_of(st.sampled_from(["awake", " Light", "REM", "sleeping", "x"]),
                             st.booleans(), ANY),
}


BASE = {"schema_version": 1, "event_id": "e-1", "device_id": "w-1",
        "measured_at": "2026-06-01T10:00:00Z", "heart_rate_bpm": 61, "steps": 12,
        "sleep_state": "light"}


@st.composite
def events(draw: st.DrawFn) -> dict[str, object]:
    """A valid event with one to three fields changed or left out (most values are then
    on an edge), or any fields at all."""
    if draw(st.integers(0, 9)) == 0:
        present = draw(st.sets(st.sampled_from(sorted(FIELDS))))
        value = {name: draw(FIELDS[name]) for name in sorted(present)}
    else:
        value = dict(BASE)
        for name in draw(st.sets(st.sampled_from(sorted(FIELDS)), min_size=1, max_size=3)):
            if draw(st.integers(0, 4)) == 0:
                del value[name]
            else:
                value[name] = draw(FIELDS[name])
    if draw(st.booleans()):
        value["unknown"] = draw(ANY)
    return value


@settings(max_examples=3000, deadline=None)
@given(events())
def test_plain_fields_agree_with_the_model(value: dict[str, object]) -> None:
    quick = plain_fields(value)
    try:
        model = checked_fields(value)
    except EventRejected:
        assert quick is None, f"accepted by hand, rejected by EventIn: {value!r}"
        return
    if quick is not None:
        assert [(type(v), v) for v in quick] == [(type(v), v) for v in model], value


def test_the_common_shapes_take_the_plain_path() -> None:
    """Plain events from watches are checked by hand (else the hot path would be slow)."""
    for value in ({"device_id": "w-1", "measured_at": "2026-06-01T10:00:00Z",
                   "heart_rate_bpm": 61, "steps": 12, "sleep_state": "light"},
                  {"schema_version": 1, "event_id": "e-1", "device_id": "w-1",
                   "measured_at": 1_780_000_000, "heart_rate_bpm": 61.5},
                  {"device_id": "w-1", "measured_at": "2026-06-01 10:00:00", "sleep_state": True}):
        assert plain_fields(value) == checked_fields(value)
