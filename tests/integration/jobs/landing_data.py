"""Events and junk for the landing tests, with their expected outcome written by hand."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import uuid

YEAR = 2017  # dates of these tests only: the dirty-date table is shared by the test session


def canonical(i: int, device: str, day: int, *, hr: float | None = 60.0, steps: int | None = 1,
              sleep: str | None = "awake", year: int = YEAR) -> dict:
    at = dt.datetime(year, 3, day, 23, 59, 50, tzinfo=dt.UTC) + dt.timedelta(seconds=i % 20)
    # Ids numbered per device, as watch firmware does: every device has a reading "0", "1", ...
    return {"schema_version": 1, "event_id": str(i), "device_id": device,
            "measured_at": rfc3339(at, i), "heart_rate_bpm": hr, "steps": steps,
            "sleep_state": sleep, "time_source": "offset", "time_zone": None,
            "received_at": rfc3339(dt.datetime(2026, 11, 28, tzinfo=dt.UTC), i + 1)}


def rfc3339(at: dt.datetime, i: int) -> str:
    """A time as the API writes it (+00:00), or as another producer may: Z, another offset
    (here past midnight where UTC is not), a fraction of a second."""
    form = i % 4
    if form == 1:
        return at.isoformat().replace("+00:00", "Z")
    if form == 2:
        return at.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30))).isoformat()
    if form == 3:
        return (at + dt.timedelta(microseconds=250_000)).isoformat()
    return at.isoformat()


def junk(max_bytes: int) -> list[tuple[bytes | None, str]]:
    """(value, expected reason) of records that must go to quarantine."""
    good = canonical(0, "junk", 1)
    return [
        (b"not json at all", "not JSON"),
        (b'[1, 2, 3]', "not JSON"),
        (json.dumps({**good, "steps": "many"}).encode(), "wrong type"),
        (json.dumps({**good, "schema_version": 2, "event_id": "j-v2"}).encode(),
         "unknown schema_version"),
        (json.dumps({**good, "event_id": None}).encode(), "event_id is missing"),
        (json.dumps({**good, "event_id": "j-nodev", "device_id": None}).encode(),
         "device_id is missing"),
        (json.dumps({**good, "event_id": "j-hr", "heart_rate_bpm": 900}).encode(),
         "heart_rate_bpm outside 20..250"),
        (json.dumps({**good, "event_id": "j-time", "measured_at": "soon"}).encode(),
         "measured_at is not a timestamp"),
        (json.dumps({**good, "event_id": "j-none", "heart_rate_bpm": None, "steps": None,
                     "sleep_state": None}).encode(), "no measure"),
        (json.dumps({**good, "event_id": "j-big", "pad": "x" * max_bytes}).encode(),
         f"larger than {max_bytes} bytes"),
        (None, "record has no value"),
    ]


def make_events(n_devices: int, per_device: int, seed: int,
                year: int = YEAR) -> tuple[list[dict], list[dict]]:
    """(unique events, what is produced: the events plus resends of some of them), in March
    of `year` (another year than YEAR keeps a test's dirty dates apart from these tests')."""
    rng = random.Random(seed)
    events = []
    for d in range(n_devices):
        device = f"dev-{seed}-{d}"
        for i in range(per_device):
            hr = None if i % 7 == 0 else float(50 + i % 90)
            steps = None if i % 11 == 0 else i % 200
            sleep = ["awake", "light", "deep", "rem", None][i % 5]
            if hr is None and steps is None and sleep is None:
                steps = 0  # a reading has at least one measure
            events.append(canonical(i, device, 1 + (i % 5), hr=hr, steps=steps, sleep=sleep,
                                    year=year))
    produced = events + rng.sample(events, len(events) // 10)  # 10 % resent
    rng.shuffle(produced)
    return events, produced


async def _produce(bootstrap: str, topic: str, partitions: int,
                   records: list[tuple[bytes | None, bytes | None]]) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                max_request_size=8 * 1024 * 1024)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def produce(bootstrap: str, records: list[tuple[bytes | None, bytes | None]],
            partitions: int = 3) -> str:
    topic = f"landing-{uuid.uuid4().hex[:8]}"
    asyncio.run(_produce(bootstrap, topic, partitions, records))
    return topic


def expected_row(e: dict) -> dict:
    """The lake row of a canonical event, by hand: timestamps as UTC datetimes, the UTC date."""
    def utc(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text).astimezone(dt.UTC).replace(tzinfo=None)

    at = utc(e["measured_at"])
    return {**e, "measured_at": at, "received_at": utc(e["received_at"]), "event_date": at.date()}


def kafka_records(produced, bad):
    """(key, value) records of the produced events, then of the junk values."""
    return ([(e["device_id"].encode(), json.dumps(e).encode()) for e in produced]
            + [(b"junk", value) for value, _ in bad])
