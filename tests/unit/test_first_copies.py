"""The copy of each event_id the aggregation keeps, found on the driver: the first received,
then the lowest Kafka partition and offset, then the first in the lake (file, row)."""

import datetime as dt

import pyarrow as pa
import pytest

from smartwatch_jobs.aggregate import first_copies

pytestmark = pytest.mark.unit

T0 = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
LATER = T0 + dt.timedelta(minutes=5)


def test_the_first_copy_of_each_id_is_named_by_its_place_in_the_lake() -> None:
    # (_h, event_id, received_at, kafka_partition, kafka_offset, _file, _row)
    rows = [
        (1, "a", LATER, 0, 5, "f1", 0),   # a: received later
        (1, "a", T0, 3, 9, "f2", 7),      # a: received first -> kept
        (1, "b", T0, 1, 4, "f3", 2),      # b: same hash as a (a collision), lower offset -> kept
        (1, "b", T0, 1, 8, "f1", 1),
        (2, "c", T0, 2, 6, "f9", 3),      # c: landed twice at one Kafka position
        (2, "c", T0, 2, 6, "f4", 5),      # ... the first file in the lake wins -> kept
        (2, "c", T0, 2, 6, "f4", 8),
        (3, "d", None, 0, 1, "f5", 0),    # d: a null sorts first, as in Spark -> kept
        (3, "d", T0, 0, 0, "f5", 1),
    ]
    names = ["_h", "event_id", "received_at", "kafka_partition", "kafka_offset", "_file", "_row"]
    table = pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})
    kept = first_copies(table).to_pylist()
    assert sorted((k["_id"], k["_h"], k["_kf"], k["_kr"]) for k in kept) == [
        ("a", 1, "f2", 7), ("b", 1, "f3", 2), ("c", 2, "f4", 5), ("d", 3, "f5", 0)]
