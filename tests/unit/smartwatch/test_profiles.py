"""Profile import parsing (registry.parse_profiles, unknown_keys): the spellings of the zone
key, a zone given twice, and the keys no field reads, with hand-written entries."""

from __future__ import annotations

import pytest

from smartwatch.registry import ProfileImportError, parse_profiles, unknown_keys

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("key", ["time_zone", "timezone", "tz"])
def test_each_spelling_of_the_zone_key_gives_the_zone(key: str) -> None:
    (profile,) = parse_profiles([{"user_id": "u1", "device_id": "d1", key: " Asia/Tokyo "}])
    assert profile.time_zone == "Asia/Tokyo"


def test_no_zone_is_utc_and_the_same_zone_twice_is_fine() -> None:
    plain, twice = parse_profiles([{"user_id": "u1"},
                                   {"user_id": "u2", "timezone": "UTC", "time_zone": "UTC"}])
    assert plain.time_zone == twice.time_zone == "UTC"


def test_two_different_zones_and_an_unknown_zone_are_refused_by_entry_and_key() -> None:
    with pytest.raises(ProfileImportError) as raised:
        parse_profiles([{"user_id": "u1", "tz": "Europe/Berlin", "time_zone": "UTC"},
                        {"user_id": "u2", "timezone": "Mars/Base"}])
    problems = raised.value.problems
    assert [(p["index"], p["field"]) for p in problems] == [(0, "entry"), (1, "timezone")]
    assert "time_zone='UTC', tz='Europe/Berlin'" in problems[0]["reason"]
    assert "Mars/Base" in problems[1]["reason"]


def test_keys_no_field_reads_are_counted_by_name() -> None:
    entries = [{"user_id": "u1", "tz": "UTC", "nickname": "a", "age": 30},
               {"user_id": "u2", "nickname": "b", "shoe_size": 44}, "not an entry"]
    assert unknown_keys(entries) == {"nickname": 2, "shoe_size": 1}
    assert unknown_keys([{"user_id": "u", "device_id": "d", "user_email": "e", "gender": "f",
                          "age": 1, "timezone": "UTC"}]) == {}
