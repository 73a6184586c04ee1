"""Records that are not UTF-8, not JSON or too large land in a quarantine that DuckDB,
pyarrow and Spark read: `raw` is valid UTF-8 text (U+FFFD where the bytes were not UTF-8) and
`raw_bytes` the value exactly as it came. Real Kafka and Spark; without the conversion,
DuckDB refuses the files ("Invalid string encoding") and pyarrow raises UnicodeDecodeError."""

from __future__ import annotations

import json

import duckdb
import pyarrow.dataset as ds
import pytest

from smartwatch.db import migrate
from tests.integration.jobs.landing_data import produce

pytestmark = pytest.mark.integration
MAX_BYTES = 2048

VALID = {"schema_version": 1, "event_id": "q-ok", "device_id": "q-watch",
         "measured_at": "2026-11-02T10:00:00+00:00", "heart_rate_bpm": 61.0, "steps": 3,
         "sleep_state": "awake", "time_source": "offset", "time_zone": None,
         "received_at": "2026-11-02T10:00:01+00:00"}  # a canonical event, as the API writes it
BAD = {
    b"\xff\xfe": "\ufffd\ufffd",                                   # not UTF-8 at all
    b'{"event_id": "q-1", "device_id": "w\xe9"}': '{"event_id": "q-1", "device_id": "w\ufffd"}',
    b"not json": "not json",
    b"{" + b" " * 3000 + b"}": None,  # over the test's record limit (MAX_BYTES)
}


def test_bad_records_are_readable_by_every_reader(spark, kafka_bootstrap, postgres_dsn,
                                                  tmp_path) -> None:
    records = [(b"q-watch", json.dumps(VALID).encode())] + [(b"q", value) for value in BAD]
    from smartwatch_jobs import landing

    migrate(postgres_dsn)
    cfg = landing.LandingConfig(
        bootstrap=kafka_bootstrap, topic=produce(kafka_bootstrap, records),
        lake=f"file://{tmp_path / 'lake'}", quarantine=f"file://{tmp_path / 'q'}",
        checkpoint=f"file://{tmp_path / 'ckpt'}", postgres_dsn=postgres_dsn,
        max_record_bytes=MAX_BYTES)
    landing.run(spark, cfg, available_now=True, trigger_seconds=1)
    quarantine = tmp_path / "q"
    # The text first: what failed before ("Invalid string encoding found in Parquet file").
    texts = duckdb.connect().execute(
        f"SELECT raw FROM read_parquet('{quarantine}/*/*.parquet')").fetchall()
    assert len(texts) == len(BAD)
    got = duckdb.connect().execute(
        f"SELECT raw_bytes, raw, error FROM read_parquet('{quarantine}/*/*.parquet', "
        "hive_partitioning = true)").fetchall()
    assert sorted(bytes(b) for b, _, _ in got) == sorted(BAD)
    for value, raw, error in got:
        want = BAD[bytes(value)]
        assert raw == (want if want is not None else bytes(value).decode()), error
        assert error
    assert any("larger than" in e for _, _, e in got)
    table = ds.dataset(str(quarantine), format="parquet", partitioning="hive").to_table()
    assert sorted(table.column("raw_bytes").to_pylist()) == sorted(BAD)
    assert "\ufffd\ufffd" in table.column("raw").to_pylist()
    assert spark.read.parquet(str(quarantine)).count() == len(BAD)
    lake = duckdb.connect().execute(
        f"SELECT event_id FROM read_parquet('{tmp_path / 'lake'}/*/*.parquet')").fetchall()
    assert lake == [("q-ok",)]
