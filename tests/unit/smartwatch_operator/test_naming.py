"""Names of runs: deterministic, DNS-1123 labels starting with a letter, at most 63
characters (pure logic, expectations by hand)."""

import hashlib
import re
from datetime import date

import pytest

from smartwatch.periods import containing
from smartwatch_operator.naming import compact_label, label_value, run_name

pytestmark = pytest.mark.unit

DAY = containing("daily", date(2026, 11, 27))
WEEK = containing("weekly", date(2026, 11, 27))
MONTH = containing("monthly", date(2026, 11, 27))
DNS_LABEL_FROM_LETTER = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


def test_compact_labels() -> None:
    assert [compact_label(w) for w in (DAY, WEEK, MONTH)] == ["20261127", "2026w48", "202611"]
    assert compact_label(containing("weekly", date(2021, 1, 1))) == "2020w53"


@pytest.mark.parametrize(("schedule", "kind", "window", "attempt", "name"), [
    ("daily", "s", DAY, 0, "daily-s20261127"),
    ("daily", "s", DAY, 1, "daily-s20261127-r1"),
    ("steps-weekly", "b", WEEK, 2, "steps-weekly-b2026w48-r2"),
    ("monthly", "n", MONTH, 0, "monthly-n202611"),
    ("monthly", "s", MONTH, 20, "monthly-s202611-r20"),
    # A leading digit gets `a-` in front.
    ("2026-daily", "s", DAY, 0, "a-2026-daily-s20261127"),
    ("1", "b", WEEK, 0, "a-1-b2026w48"),
    # Dots of a subdomain name become `-`.
    ("team.berlin.daily", "s", DAY, 0, "team-berlin-daily-s20261127"),
    ("eu.2026", "n", MONTH, 3, "eu-2026-n202611-r3"),
])
def test_short_names(schedule: str, kind: str, window, attempt: int, name: str) -> None:
    assert run_name(schedule, kind, window, attempt) == name


def test_a_name_of_exactly_63_characters_is_kept() -> None:
    schedule = "s" * 53
    assert run_name(schedule, "s", DAY) == schedule + "-s20261127"
    assert len(run_name(schedule, "s", DAY)) == 63


def test_a_longer_name_keeps_a_prefix_the_run_part_and_a_hash() -> None:
    schedule = "x" * 100
    # sha256("x" * 100 + "-s20261127-r2"), first 8 hex digits.
    assert hashlib.sha256(("x" * 100 + "-s20261127-r2").encode()).hexdigest()[:8] == "050aaafc"
    name = run_name(schedule, "s", DAY, 2)
    assert name == "x" * 41 + "-s20261127-r2-050aaafc"
    assert len(name) == 63
    assert run_name("x" * 54, "s", DAY) == "x" * 44 + "-s20261127-" + hashlib.sha256(
        ("x" * 54 + "-s20261127").encode()).hexdigest()[:8]


def test_long_names_are_deterministic_and_distinct() -> None:
    first = "analytics.europe.west." + "a" * 60 + ".daily"
    second = "analytics.europe.west." + "a" * 60 + ".nightly"
    assert run_name(first, "s", DAY) == run_name(first, "s", DAY)
    assert run_name(first, "s", DAY) != run_name(second, "s", DAY)
    # Same prefix, same run part: only the hash differs.
    assert run_name(first, "s", DAY)[:-8] == run_name(second, "s", DAY)[:-8]
    assert run_name(first, "s", DAY) != run_name(first, "s", DAY, 1)
    assert run_name(first, "s", DAY) != run_name(first, "b", DAY)


def test_a_prefix_ending_in_a_dash_loses_it() -> None:
    # The prefix has room for 44 characters, the 44th is `-`.
    name = run_name("a" * 43 + "-" + "b" * 60, "s", DAY)
    assert name.startswith("a" * 43 + "-s20261127-")
    assert len(name) == 62


@pytest.mark.parametrize("schedule", [
    "daily", "0daily", "9" * 80, "a.b.c", "x" * 253, "a-" * 60 + "z", "1." * 100 + "z",
])
@pytest.mark.parametrize("attempt", [0, 7, 20])
def test_every_name_is_a_dns_label_starting_with_a_letter(schedule: str, attempt: int) -> None:
    for window in (DAY, WEEK, MONTH):
        for kind in "sbn":
            name = run_name(schedule, kind, window, attempt)
            assert DNS_LABEL_FROM_LETTER.fullmatch(name), name
            assert len(name) <= 63, name


@pytest.mark.parametrize(("args", "message"), [
    (("daily", "x", DAY, 0), "unknown run kind 'x'"),
    (("daily", "s", DAY, -1), "attempt -1 is negative"),
    (("", "s", DAY, 0), "the schedule name is empty"),
])
def test_errors(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_name(*args)


def test_label_values() -> None:
    assert label_value("daily") == "daily"
    assert label_value("team.berlin.daily") == "team.berlin.daily"
    assert label_value("x" * 63) == "x" * 63
    assert label_value("x" * 64) == "x" * 54 + "-" + hashlib.sha256(b"x" * 64).hexdigest()[:8]
    long = "a" * 53 + "." + "b" * 30
    assert label_value(long) == "a" * 53 + "-" + hashlib.sha256(long.encode()).hexdigest()[:8]
