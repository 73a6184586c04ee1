"""Ownership and zone spans (smartwatch.history), against hand-written tables."""

from __future__ import annotations

import datetime as dt

import pytest

from smartwatch.history import Span, in_effect, spans

pytestmark = pytest.mark.unit


def t(day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, tzinfo=dt.UTC)


def test_one_owner_one_zone_is_one_span_open_both_ways() -> None:
    assert spans([("w", "a", t(10))], [("a", "Europe/Berlin", t(10))]) == [
        Span("w", "a", "Europe/Berlin", None, None)]


def test_a_handover_splits_the_device_at_its_instant() -> None:
    # The first owner also holds what the watch measured before it was registered.
    got = spans([("w", "a", t(10)), ("w", "b", t(12, 18))],
                [("a", "Europe/Berlin", t(1)), ("b", "Asia/Tokyo", t(1))])
    assert got == [Span("w", "a", "Europe/Berlin", None, t(12, 18)),
                   Span("w", "b", "Asia/Tokyo", t(12, 18), None)]


def test_a_move_splits_the_owners_span() -> None:
    got = spans([("w", "a", t(1))], [("a", "Europe/Berlin", t(1)), ("a", "Asia/Tokyo", t(20))])
    assert got == [Span("w", "a", "Europe/Berlin", None, t(20)),
                   Span("w", "a", "Asia/Tokyo", t(20), None)]


def test_handover_and_moves_together() -> None:
    # a held the watch until the 15th and moved on the 10th; b moved on the 12th (before the
    # handover: b's span starts in Tokyo) and again on the 25th.
    got = spans([("w", "a", t(5)), ("w", "b", t(15))],
                [("a", "Europe/Berlin", t(1)), ("a", "America/New_York", t(10)),
                 ("b", "Europe/Paris", t(1)), ("b", "Asia/Tokyo", t(12)),
                 ("b", "Australia/Sydney", t(25))])
    assert got == [Span("w", "a", "Europe/Berlin", None, t(10)),
                   Span("w", "a", "America/New_York", t(10), t(15)),
                   Span("w", "b", "Asia/Tokyo", t(15), t(25)),
                   Span("w", "b", "Australia/Sydney", t(25), None)]


def test_an_entry_that_changes_nothing_adds_no_span() -> None:
    got = spans([("w", "a", t(1)), ("w", "a", t(9))],
                [("a", "UTC", t(1)), ("a", "UTC", t(3))])
    assert got == [Span("w", "a", "UTC", None, None)]


def test_handed_back_to_the_first_owner() -> None:
    got = spans([("w", "a", t(1)), ("w", "b", t(5)), ("w", "a", t(9))], [])
    assert got == [Span("w", "a", "UTC", None, t(5)), Span("w", "b", "UTC", t(5), t(9)),
                   Span("w", "a", "UTC", t(9), None)]


def test_in_effect() -> None:
    entries = [("a", t(5)), ("b", t(9))]
    assert in_effect(entries, t(1)) == "a"  # the first is open to the past
    assert in_effect(entries, t(5)) == "a"
    assert in_effect(entries, t(8, 23)) == "a"
    assert in_effect(entries, t(9)) == "b"
    assert in_effect([], t(9)) is None
