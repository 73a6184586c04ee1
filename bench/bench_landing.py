"""Landing throughput and freshness, with the local stack's Kafka and Postgres:

- backlog catch-up: N canonical events already in a topic, `land --available-now` (in-process
  Spark, local[*]): events per second of the query, Spark's start-up excluded;
- steady state: 5,000 events/s produced for a while, the continuous job with a 5 s trigger;
  freshness of each event = when its file became visible in the lake minus when it was
  produced (its received_at), p50 and p95.

After the catch-up, in the same JVM: the same backlog landed again with a new checkpoint,
two ceilings from Spark alone on that backlog, what the job cannot beat (reading the records
and writing their bytes to Parquet; reading and parsing them, the job's `parse`, with nothing
written), then the landing once more, as warm as the ceilings; and Spark alone reading and
parsing in a JVM of its own, what a first run costs Spark itself.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import duckdb

from smartwatch.settings import Settings
from smartwatch_dev import toolchain
from smartwatch_dev.stack import Stack
from smartwatch_dev.toolchain import REPO_ROOT

BACKLOG = 1_000_000
RATE = 5_000
STEADY_SECONDS = 60


def _event(i: int, received: str) -> bytes:
    at = dt.datetime(2026, 6, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=i % 86400 * 3)
    return json.dumps({"schema_version": 1, "event_id": f"b-{i}", "device_id": f"d{i % 1000}",
                       "measured_at": at.isoformat(), "heart_rate_bpm": 60.0 + i % 50,
                       "steps": i % 120, "sleep_state": "awake", "time_source": "offset",
                       "time_zone": None, "received_at": received}).encode()


async def _produce_backlog(bootstrap: str, topic: str, n: int) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 6, 1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, compression_type="lz4",
                                max_batch_size=1024 * 1024)
    await producer.start()
    received = dt.datetime.now(dt.UTC).isoformat()
    try:
        for start in range(0, n, 5000):
            futures = [await producer.send(topic, _event(i, received), key=f"d{i % 1000}".encode())
                       for i in range(start, min(n, start + 5000))]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _produce_steady(bootstrap: str, topic: str, rate: int, seconds: int) -> int:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, compression_type="lz4")
    await producer.start()
    sent = 0
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < seconds:
            tick = time.monotonic()
            received = dt.datetime.now(dt.UTC).isoformat()
            for _ in range(rate // 10):
                await producer.send(topic, _event(sent, received), key=f"d{sent % 1000}".encode())
                sent += 1
            await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))
        await producer.flush()
    finally:
        await producer.stop()
    return sent


def _watch_lake(lake: Path, stop: threading.Event, latencies: list[float]) -> None:
    seen: set[Path] = set()
    db = duckdb.connect()
    while not stop.is_set():
        now = time.time()
        for f in lake.glob("event_date=*/*.parquet"):
            if f not in seen:
                seen.add(f)
                rows = db.execute(f"SELECT epoch(received_at) FROM read_parquet('{f}')").fetchall()
                latencies.extend(now - r[0] for r in rows)
        time.sleep(0.25)


def run(parts: tuple[str, ...] = ("backlog", "steady")) -> list[dict[str, object]]:
    state = REPO_ROOT / ".stack" / f"bench-landing-{uuid.uuid4().hex[:8]}"
    settings = Settings(kafka_bootstrap=None, postgres_dsn=None, kubeconfig=None,
                        **toolchain.spark_settings())
    stack = Stack(settings, state)
    rows: list[dict[str, object]] = []
    try:
        stack.up(only=("postgres", "kafka"))
        status = stack.status()
        bootstrap, dsn = status["kafka_bootstrap"], status["postgres_dsn"]
        from smartwatch.db import migrate
        migrate(dsn)

        topic = f"bench-backlog-{uuid.uuid4().hex[:6]}"
        if "backlog" in parts:
            asyncio.run(_produce_backlog(bootstrap, topic, BACKLOG))
            rows += _backlog(settings, state, bootstrap, dsn, topic)
        if "steady" in parts:
            rows += _steady(state, bootstrap, dsn)
    finally:
        stack.purge()
    return rows


def _backlog(settings, state, bootstrap, dsn, topic) -> list[dict[str, object]]:
    from smartwatch_jobs import landing
    from smartwatch_jobs.spark import quiet, session

    local = settings.model_copy(update={"spark_master": "local[*]"})
    spark = quiet(session("bench-landing", local, 4))
    rows = []
    rates = []
    try:
        def land(run: int, case: str) -> None:
            cfg = landing.LandingConfig(bootstrap=bootstrap, topic=topic,
                                        lake=f"file://{state / f'lake-{run}'}",
                                        quarantine=f"file://{state / f'q-{run}'}",
                                        checkpoint=f"file://{state / f'ckpt-{run}'}",
                                        postgres_dsn=dsn)
            t0 = time.perf_counter()
            landing.run(spark, cfg, available_now=True, trigger_seconds=5)
            seconds = time.perf_counter() - t0
            landed = duckdb.connect().execute(
                f"SELECT count(*) FROM read_parquet('{state / f'lake-{run}'}/*/*.parquet')"
            ).fetchone()[0]
            rates.append(BACKLOG / seconds)
            rows.append({"case": f"backlog catch-up, {BACKLOG:,} events, {case} "
                                 f"({landed:,} landed in {seconds:.1f} s)",
                         "value": round(BACKLOG / seconds), "unit": "events/s"})

        land(0, "available-now, first run in a new JVM")
        land(1, "again in the same JVM (its second run), a new checkpoint")
        records = (spark.read.format("kafka").option("kafka.bootstrap.servers", bootstrap)
                   .option("subscribe", topic).option("startingOffsets", "earliest")
                   .option("endingOffsets", "latest").load())
        ceilings = {
            "Spark alone (warm): read the backlog, write each record's bytes to Parquet":
                lambda: records.select("value", "partition", "offset").write
                .parquet(f"file://{state / 'bytes'}"),
            "Spark alone (warm): read and parse the backlog (the job's `parse`), nothing written":
                lambda: landing.parse(records, settings.landing_max_record_bytes).write
                .format("noop")
                .mode("overwrite").save(),
        }
        ceiling = 0.0
        for case, action in ceilings.items():
            t0 = time.perf_counter()
            action()
            seconds = time.perf_counter() - t0
            ceiling = BACKLOG / seconds  # the last: read and parse
            rows.append({"case": f"{case} ({seconds:.1f} s)", "value": round(BACKLOG / seconds),
                         "unit": "events/s", "target": "ceiling"})
        # Warm as the ceilings: after them, in the same JVM.
        land(2, "warm (after the ceilings), a new checkpoint")
        first_ceiling = BACKLOG / _new_jvm_parse_seconds(bootstrap, topic)
        rows.append({"case": "Spark alone, first run in a new JVM: read and parse the backlog, "
                             "nothing written", "value": round(first_ceiling),
                     "unit": "events/s", "target": "ceiling"})
        rows += [{"case": "landing, warm / Spark's read-and-parse ceiling",
                  "value": round(100 * rates[2] / ceiling, 1), "unit": "%", "target": ">= 70"},
                 {"case": "landing, first run in a new JVM / the same ceiling",
                  "value": round(100 * rates[0] / ceiling, 1), "unit": "%", "target": ">= 50"},
                 {"case": "Spark alone: its first run in a new JVM / its warm run",
                  "value": round(100 * first_ceiling / ceiling, 1), "unit": "%"}]
    finally:
        spark.stop()
    return rows


def _new_jvm_parse_seconds(bootstrap: str, topic: str) -> float:
    """Spark alone reading and parsing the backlog in a JVM of its own (this file run as a
    script), its start-up excluded: what a first run costs Spark itself."""
    out = subprocess.run([sys.executable, __file__, bootstrap, topic], check=True,
                         capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def _parse_in_new_jvm(bootstrap: str, topic: str) -> None:
    from smartwatch_jobs import landing
    from smartwatch_jobs.spark import quiet, session

    settings = Settings(kafka_bootstrap=None, postgres_dsn=None, kubeconfig=None,
                        **toolchain.spark_settings()).model_copy(
        update={"spark_master": "local[*]"})
    spark = quiet(session("bench-landing-ceiling", settings, 4))
    try:
        records = (spark.read.format("kafka").option("kafka.bootstrap.servers", bootstrap)
                   .option("subscribe", topic).option("startingOffsets", "earliest")
                   .option("endingOffsets", "latest").load())
        t0 = time.perf_counter()
        (landing.parse(records, settings.landing_max_record_bytes).write.format("noop")
         .mode("overwrite").save())
        print(time.perf_counter() - t0)
    finally:
        spark.stop()


def _steady(state, bootstrap, dsn) -> list[dict[str, object]]:
    proc = None
    try:
        topic = f"bench-steady-{uuid.uuid4().hex[:6]}"
        asyncio.run(_produce_backlog(bootstrap, topic, 0))
        lake = state / "lake2"
        env = {**os.environ, "SMARTWATCH_KAFKA_BOOTSTRAP": bootstrap,
               "SMARTWATCH_POSTGRES_DSN": dsn, "SMARTWATCH_EVENTS_TOPIC": topic,
               "SMARTWATCH_LAKE_URI": f"file://{lake}",
               "SMARTWATCH_QUARANTINE_URI": f"file://{state / 'q2'}",
               "SMARTWATCH_CHECKPOINT_URI": f"file://{state / 'ckpt2'}",
               "SMARTWATCH_LANDING_TRIGGER_SECONDS": "5", "SMARTWATCH_SPARK_MASTER": "local[*]"}
        proc = subprocess.Popen([sys.executable, "-m", "smartwatch", "land", "--state-dir",
                                 str(state)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(25)  # Spark start-up and the first empty batches
        latencies: list[float] = []
        stop = threading.Event()
        watcher = threading.Thread(target=_watch_lake, args=(lake, stop, latencies))
        watcher.start()
        sent = asyncio.run(_produce_steady(bootstrap, topic, RATE, STEADY_SECONDS))
        time.sleep(15)
        stop.set()
        watcher.join()
        latencies.sort()
        p50 = latencies[len(latencies) // 2] if latencies else float("nan")
        p95 = latencies[int(len(latencies) * 0.95)] if latencies else float("nan")
        return [{"case": f"steady {RATE:,} events/s for {STEADY_SECONDS} s, 5 s trigger: "
                         f"freshness p50 {p50:.1f} s ({len(latencies):,} of {sent:,} seen)",
                 "value": round(p95, 1), "unit": "s p95", "target": "< 15"}]
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    _parse_in_new_jvm(sys.argv[1], sys.argv[2])
