"""A micro-batch's end offsets, read from its entry in Spark's offset log (the format Spark
writes: a version line, the batch's metadata, one line a source)."""

from __future__ import annotations

import pytest

from smartwatch_jobs.landing import batch_ends

pytestmark = pytest.mark.unit

ENTRY = """v1
{"batchWatermarkMs":0,"batchTimestampMs":1796668900621,"conf":{"spark.sql.shuffle.partitions":"4"}}
{"smartwatch.events":{"0":12,"1":3,"10":0}}"""


def test_the_last_lines_name_each_partitions_next_offset() -> None:
    assert batch_ends(ENTRY) == {("smartwatch.events", 0): 12, ("smartwatch.events", 1): 3,
                                 ("smartwatch.events", 10): 0}


def test_two_sources_and_a_source_without_offsets() -> None:
    entry = ENTRY + '\n-\n{"other":{"2":5}}\n'
    assert batch_ends(entry) == {("smartwatch.events", 0): 12, ("smartwatch.events", 1): 3,
                                 ("smartwatch.events", 10): 0, ("other", 2): 5}
