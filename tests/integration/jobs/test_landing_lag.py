"""The landing's lag on real Kafka, Spark and Postgres: the landing commits, per partition,
the offset it landed up to; the lag is the topic's end offsets against it, and the age of the
first record not landed. Expectations are counted by hand: how many records were produced,
to which partition, with which timestamp."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
import urllib.request

import psycopg2
import pytest

from smartwatch import lag
from smartwatch.db import migrate
from tests.integration.jobs.landing_data import make_events, produce
from tests.kafka_reader import TopicReader

pytestmark = pytest.mark.integration


async def _append(bootstrap: str, topic: str, partition: int, values: list[bytes],
                  timestamp_ms: int) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, partition=partition,
                                         timestamp_ms=timestamp_ms)
    finally:
        await producer.stop()


def _land(spark, bootstrap: str, topic: str, tmp, dsn: str) -> str:
    from smartwatch_jobs import landing

    cfg = landing.LandingConfig(
        bootstrap=bootstrap, topic=topic, lake=f"file://{tmp / 'lake'}",
        quarantine=(tmp / "q").as_uri(), checkpoint=(tmp / "ckpt").as_uri(), postgres_dsn=dsn)
    landing.run(spark, cfg, available_now=True, trigger_seconds=1)
    return (tmp / "ckpt" / "smartwatch-landing-id").read_text().strip()


def _committed(dsn: str, topic: str) -> dict[int, int]:
    with psycopg2.connect(dsn) as conn:
        found = lag.landed_offsets(conn, topic)
    conn.close()
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scrape(port: int) -> dict[tuple[str, str], float]:
    """{(metric, partition or ""): value} of the metrics the landing serves."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("smartwatch_landing_"):
            name, value = line.rsplit(" ", 1)
            metric, _, labels = name.partition("{")
            partition = labels.split('partition="')[1].split('"')[0] if labels else ""
            out[(metric, partition)] = float(value)
    return out


def test_the_lag_is_what_was_produced_and_not_landed(spark, kafka_bootstrap, postgres_dsn,
                                                     tmp_path) -> None:
    from smartwatch_jobs import landing_metrics

    migrate(postgres_dsn)
    _, produced = make_events(n_devices=3, per_device=20, seed=41)
    topic = produce(kafka_bootstrap, [(e["device_id"].encode(), json.dumps(e).encode())
                                      for e in produced])

    # Nothing landed yet: every record is behind.
    before = lag.measure(kafka_bootstrap, topic, {})
    assert [p.partition for p in before] == [0, 1, 2]
    assert sum(p.behind for p in before) == len(produced)
    assert all((p.oldest_age_seconds is not None) == (p.behind > 0) for p in before)
    assert [p.lost for p in before] == [0, 0, 0]

    # Landed: the committed offsets are the topic's end offsets, nothing is behind.
    landing_id = _land(spark, kafka_bootstrap, topic, tmp_path, postgres_dsn)
    ends = TopicReader(kafka_bootstrap, topic).mark()
    assert _committed(postgres_dsn, topic) == ends
    with psycopg2.connect(postgres_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT DISTINCT landing_id FROM landing_progress WHERE topic = %s", (topic,))
        assert cur.fetchall() == [(landing_id,)]
    conn.close()
    after = lag.measure(kafka_bootstrap, topic, _committed(postgres_dsn, topic))
    assert [(p.behind, p.oldest_age_seconds) for p in after] == [(0, None)] * 3

    # Five records an hour old in partition 1, not landed yet.
    hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    asyncio.run(_append(kafka_bootstrap, topic, 1, [b'{"late": true}'] * 5,
                        int(hour_ago.timestamp() * 1000)))
    behind = lag.measure(kafka_bootstrap, topic, _committed(postgres_dsn, topic))
    assert [p.behind for p in behind] == [0, 5, 0]
    age = behind[1].oldest_age_seconds
    assert age is not None and 3600 <= age < 3600 + 300
    assert behind[0].oldest_age_seconds is None and behind[2].oldest_age_seconds is None

    # The landing's metrics say the same.
    port = _free_port()
    stop = landing_metrics.start(port, 0.2, kafka_bootstrap, topic,
                                 lambda: _committed(postgres_dsn, topic))
    try:
        for _ in range(100):
            scraped = _scrape(port)
            if ("smartwatch_landing_records_behind", "1") in scraped:
                break
            stop.wait(0.1)
        assert {k[1]: v for k, v in scraped.items()
                if k[0] == "smartwatch_landing_records_behind"} == {"0": 0, "1": 5, "2": 0}
        oldest = scraped[("smartwatch_landing_oldest_unlanded_age_seconds", "1")]
        assert 3600 <= oldest < 3600 + 300
        assert scraped[("smartwatch_landing_oldest_unlanded_age_seconds", "0")] == 0
    finally:
        stop.set()

    # Landed again (the five go to quarantine: they are not events): nothing behind.
    assert _land(spark, kafka_bootstrap, topic, tmp_path, postgres_dsn) == landing_id
    final = lag.measure(kafka_bootstrap, topic, _committed(postgres_dsn, topic))
    assert [p.behind for p in final] == [0, 0, 0]
    assert _committed(postgres_dsn, topic)[1] == ends[1] + 5


def test_a_topic_that_does_not_exist_is_named(kafka_bootstrap) -> None:
    with pytest.raises(lag.LagError, match="no topic 'no-such-topic-here'"):
        lag.measure(kafka_bootstrap, "no-such-topic-here", {})
