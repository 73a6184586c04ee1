"""Which schedules get a dirty-date count, and how often Postgres is asked (hand-written
cases; the query is a stand-in that counts its calls)."""

from __future__ import annotations

import asyncio

import pytest

from smartwatch_operator.dirty import DirtyCounter, parse_secret
from smartwatch_operator.main import dirty_counter

pytestmark = pytest.mark.unit

SECRET = ("smartwatch", "smartwatch-postgres", "dsn")


def _spec(**over) -> dict:
    return {"granularity": "daily", "mode": "dirty",
            "postgres": {"secretName": "smartwatch-postgres"}, **over}


@pytest.mark.parametrize(("text", "want"), [
    ("smartwatch/smartwatch-postgres", ("smartwatch", "smartwatch-postgres", "dsn")),
    ("ns/pg:url", ("ns", "pg", "url")),
])
def test_the_secret_option(text: str, want) -> None:
    assert parse_secret(text) == want


@pytest.mark.parametrize("text", ["pg", "/pg", "ns/", "ns/a/b", ""])
def test_a_malformed_secret_option_is_named(text: str) -> None:
    with pytest.raises(ValueError, match="is not NAMESPACE/NAME"):
        parse_secret(text)


def test_the_option_without_a_dsn_is_refused() -> None:
    assert dirty_counter(None, None) is None
    with pytest.raises(ValueError, match="needs SMARTWATCH_POSTGRES_DSN"):
        dirty_counter("ns/pg", None)


@pytest.mark.parametrize(("namespace", "spec", "applies"), [
    ("smartwatch", _spec(), True),
    ("smartwatch", _spec(postgres={"secretName": "smartwatch-postgres", "key": "dsn"}), True),
    ("smartwatch", _spec(mode="lookback"), False),          # not a dirty schedule
    ("smartwatch", {k: v for k, v in _spec().items() if k != "mode"}, False),
    ("other", _spec(), False),                               # another namespace's Secret
    ("smartwatch", _spec(postgres={"secretName": "other"}), False),
    ("smartwatch", _spec(postgres={"secretName": "smartwatch-postgres", "key": "url"}), False),
])
def test_which_schedules_are_counted(namespace: str, spec: dict, applies: bool) -> None:
    counter = DirtyCounter(lambda g: 7, SECRET)
    assert counter.applies(namespace, spec) is applies
    assert asyncio.run(counter.count(namespace, spec)) == (7 if applies else None)


def test_one_query_a_granularity_per_period_and_the_last_count_kept_when_postgres_fails() -> None:
    now = [0.0]
    asked: list[str] = []
    answers = {"daily": 3, "weekly": 1}

    def query(granularity: str) -> int:
        asked.append(granularity)
        if granularity not in answers:
            raise OSError("Postgres is down")
        return answers[granularity]

    counter = DirtyCounter(query, SECRET, max_age=30, clock=lambda: now[0])

    async def counts(*granularities: str) -> list[int | None]:
        return list(await asyncio.gather(*(counter.count("smartwatch", _spec(granularity=g))
                                           for g in granularities)))

    assert asyncio.run(counts("daily", "daily", "weekly", "daily")) == [3, 3, 1, 3]
    assert sorted(asked) == ["daily", "weekly"]  # one each, however many schedules ask
    now[0] = 29.0
    answers["daily"] = 5
    assert asyncio.run(counts("daily")) == [3]  # not asked again within max_age
    now[0] = 31.0
    assert asyncio.run(counts("daily")) == [5]
    del answers["daily"]
    now[0] = 62.0
    assert asyncio.run(counts("daily")) == [5]  # Postgres down: the last count stays
    assert asyncio.run(counts("monthly")) == [None]  # never answered
    assert asked.count("daily") == 3
