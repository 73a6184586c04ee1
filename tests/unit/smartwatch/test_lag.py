"""The lag's arithmetic (smartwatch.lag.PartitionLag), against hand-written cases."""

from __future__ import annotations

import pytest

from smartwatch.lag import PartitionLag

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("first", "end", "landed", "behind", "lost"), [
    (0, 0, None, 0, 0),        # an empty partition, never landed
    (0, 10, None, 10, 0),      # never landed: everything is behind
    (0, 10, 10, 0, 0),         # landed up to the end
    (0, 10, 7, 3, 0),          # three records behind
    (5, 10, None, 5, 5),       # five deleted by retention before any landing
    (8, 10, 3, 2, 5),          # landed up to 3, Kafka kept from 8: 5 lost, 2 behind
    (8, 10, 9, 1, 0),          # retention behind the landing: nothing lost
])
def test_behind_and_lost(first: int, end: int, landed: int | None, behind: int, lost: int) -> None:
    p = PartitionLag("t", 0, first, end, landed, None)
    assert (p.behind, p.lost) == (behind, lost)
    assert p.as_json()["behind"] == behind and p.as_json()["lost"] == lost
