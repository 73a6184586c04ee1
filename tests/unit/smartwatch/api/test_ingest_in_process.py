"""The ingest API in-process (FastAPI's TestClient), with a fake producer and a fake
registry: the pure request paths, what reaches the producer, and the answers. The real Kafka
and Postgres are the integration tier's (tests/integration/api/)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence

import pytest
from fastapi.testclient import TestClient

from smartwatch.api.main import create_app
from smartwatch.api.producer import KafkaUnavailable
from smartwatch.settings import Settings

pytestmark = pytest.mark.unit

TOKEN, OTHER_TOKEN = "swd_token-of-dev-1", "swd_token-of-dev-2"
UTC = dt.UTC


class FakeRegistry:
    """Two devices with tokens; dev-1 belongs to a user in Berlin, dev-2 has no owner yet."""

    def __init__(self) -> None:
        self.tokens = {TOKEN: "dev-1", OTHER_TOKEN: "dev-2"}
        self.zones: dict[str, str | None] = {"dev-1": "Europe/Berlin", "dev-2": None}

    def cached_device(self, token: str) -> str | None:
        return None  # always asked for: the slow path

    def device_for_token(self, token: str) -> str | None:
        return self.tokens.get(token)

    def cached_zones(self, device_ids) -> None:
        return None

    def cached_zone(self, device_id: str) -> tuple[bool, str | None]:
        """Known: a one-event body takes the API's one-event path (batches the general one)."""
        return device_id in self.zones, self.zones.get(device_id)

    def owner_zones(self, device_ids) -> dict[str, str | None]:
        return {d: self.zones.get(d) for d in set(device_ids)}

    def ping(self) -> None:
        pass

    def close(self) -> None:
        pass


class FakeProducer:
    """Keeps what it is asked to produce; `down` makes it answer as Kafka unreachable."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes | None, bytes]] = []
        self.down = False

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def ready(self) -> bool:
        return not self.down

    async def send_all(self, records: Sequence[tuple[str, bytes | None, bytes]]) -> None:
        if self.down:
            raise KafkaUnavailable("Kafka did not acknowledge within 10 s")
        self.records.extend(records)

    def topic(self, name: str) -> list[tuple[bytes | None, dict]]:
        return [(key, json.loads(value)) for topic, key, value in self.records if topic == name]


SETTINGS = Settings(kafka_bootstrap=None, postgres_dsn=None, max_body_bytes=4096,
                    retry_after_seconds=7)


@pytest.fixture
def producer() -> FakeProducer:
    return FakeProducer()


@pytest.fixture
def client(producer: FakeProducer) -> Iterator[TestClient]:
    app = create_app(SETTINGS, producer=producer, registry=FakeRegistry())  # type: ignore[arg-type]
    with TestClient(app) as c:
        yield c


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_batch_reaches_kafka_keyed_by_device(client: TestClient, producer: FakeProducer) -> None:
    body = [{"device_id": "dev-1", "measured_at": "2026-07-01T10:00:00Z", "heart_rate_bpm": 70},
            {"device_id": "dev-1", "measured_at": "2026-07-01T10:01:00+02:00", "steps": 5}]
    reply = client.post("/v1/events", json=body, headers=auth())
    assert reply.status_code == 200
    assert reply.json() == {"accepted": 2, "rejected": 0, "errors": []}
    sent = producer.topic(SETTINGS.events_topic)
    assert [key for key, _ in sent] == [b"dev-1", b"dev-1"]
    assert [at(v["measured_at"]) for _, v in sent] == [dt.datetime(2026, 7, 1, 10, 0, tzinfo=UTC),
                                                       dt.datetime(2026, 7, 1, 8, 1, tzinfo=UTC)]
    assert [(v["heart_rate_bpm"], v["steps"]) for _, v in sent] == [(70, None), (None, 5)]
    assert all(v["event_id"] and v["received_at"] for _, v in sent)


def test_a_naive_time_is_read_in_the_owners_zone(client: TestClient, producer: FakeProducer) -> None:
    reply = client.post("/v1/events", headers=auth(), json=[
        {"device_id": "dev-1", "measured_at": "2026-01-15T12:00:00", "steps": 1},   # CET, +01:00
        {"device_id": "dev-1", "measured_at": "2026-07-15T12:00:00", "steps": 1}])  # CEST, +02:00
    assert reply.status_code == 200
    assert [at(v["measured_at"]) for _, v in producer.topic(SETTINGS.events_topic)] == [
        dt.datetime(2026, 1, 15, 11, 0, tzinfo=UTC), dt.datetime(2026, 7, 15, 10, 0, tzinfo=UTC)]


def test_the_prototypes_shape_on_stream_becomes_canonical(client: TestClient,
                                                          producer: FakeProducer) -> None:
    reply = client.post("/stream", headers=auth(), json={
        "device_id": "dev-1", "hr": 71, "steps": 3, "state": "light", "timestamp": 1782900000.0})
    assert reply.status_code == 200
    [(key, event)] = producer.topic(SETTINGS.events_topic)
    assert key == b"dev-1"
    assert (event["heart_rate_bpm"], event["steps"], event["sleep_state"]) == (71, 3, "light")
    assert at(event["measured_at"]) == dt.datetime(2026, 7, 1, 10, 0, tzinfo=UTC)  # epoch 1782900000


def test_a_resent_reading_gets_the_same_id(client: TestClient, producer: FakeProducer) -> None:
    reading = {"device_id": "dev-1", "measured_at": "2026-07-01T10:00:00Z", "heart_rate_bpm": 70}
    for _ in range(2):
        assert client.post("/v1/events", json=[reading], headers=auth()).status_code == 200
    client.post("/v1/events", json=[{**reading, "heart_rate_bpm": 71}], headers=auth())
    ids = [v["event_id"] for _, v in producer.topic(SETTINGS.events_topic)]
    assert ids[0] == ids[1] != ids[2]


def test_a_bad_event_is_named_and_dead_lettered_while_the_rest_is_accepted(
        client: TestClient, producer: FakeProducer) -> None:
    reply = client.post("/v1/events", headers=auth(), json=[
        {"device_id": "dev-1", "measured_at": "2026-07-01T10:00:00Z", "heart_rate_bpm": 70},
        {"device_id": "dev-1", "measured_at": "2026-07-01T10:01:00Z", "heart_rate_bpm": 300}])
    assert reply.status_code == 200
    answer = reply.json()
    assert (answer["accepted"], answer["rejected"]) == (1, 1)
    assert [(e["index"], e["field"]) for e in answer["errors"]] == [(1, "heart_rate_bpm")]
    assert len(producer.topic(SETTINGS.events_topic)) == 1
    [(key, letter)] = producer.topic(SETTINGS.dead_letter_topic)
    assert key == b"dev-1" and "300" in json.dumps(letter)


def test_no_valid_event_is_422(client: TestClient, producer: FakeProducer) -> None:
    reply = client.post("/v1/events", headers=auth(), json=[
        {"device_id": "dev-1", "measured_at": "2026-07-01T10:00:00Z"}])  # no measurement at all
    assert reply.status_code == 422
    assert producer.topic(SETTINGS.events_topic) == []


@pytest.mark.parametrize(("headers", "status"), [({}, 401), (auth("swd_unknown"), 401)])
def test_without_a_known_token_nothing_is_produced(client: TestClient, producer: FakeProducer,
                                                   headers: dict[str, str], status: int) -> None:
    reply = client.post("/v1/events", headers=headers, json=[
        {"device_id": "dev-1", "measured_at": "2026-07-01T10:00:00Z", "steps": 1}])
    assert reply.status_code == status
    assert producer.records == []


def test_a_token_sends_only_its_own_devices_events(client: TestClient,
                                                   producer: FakeProducer) -> None:
    reply = client.post("/v1/events", headers=auth(OTHER_TOKEN), json=[
        {"device_id": "dev-1", "measured_at": "2026-07-01T10:00:00Z", "steps": 1}])
    assert reply.status_code == 403
    assert "dev-1" in reply.json()["detail"] and producer.records == []


def test_kafka_down_is_503_with_retry_after(client: TestClient, producer: FakeProducer) -> None:
    producer.down = True
    reply = client.post("/v1/events", headers=auth(), json=[
        {"device_id": "dev-1", "measured_at": "2026-07-01T10:00:00Z", "steps": 1}])
    assert reply.status_code == 503
    assert reply.headers["retry-after"] == "7"
    assert producer.records == []


def test_a_body_over_the_limit_is_413(client: TestClient, producer: FakeProducer) -> None:
    events = [{"device_id": "dev-1", "measured_at": "2026-07-01T10:00:00Z", "steps": i}
              for i in range(200)]
    reply = client.post("/v1/events", headers=auth(), json=events)
    assert reply.status_code == 413
    assert "4096" in reply.json()["detail"] and producer.records == []


@pytest.mark.parametrize("reading", [
    {"device_id": "dev-1", "measured_at": "2026-07-01 10:00:00", "heart_rate_bpm": 70},
    {"device_id": "dev-1", "hr": 71, "state": "asleep", "timestamp": 1782900000},
    {"Device ID": "dev-1", "Heart Rate": 72, "date": "2026-07-01 12:00:00.250"},
    {"device_id": "dev-2", "measured_at": "2026-07-01T10:00:00+02:00", "steps": 4},
    {"device_id": "dev-1", "measured_at": "2026-07-01T10:00:00Z", "steps": 4.0, "x": [1]},
], ids=["naive", "legacy a", "legacy b", "no owner", "converted"])
def test_one_event_as_the_body_is_produced_as_in_an_array(client: TestClient,
                                                          producer: FakeProducer,
                                                          reading: dict) -> None:
    """A body of one event (the one-event path) and the same event in an array (the general
    path) give the same record and answer."""
    token = TOKEN if reading.get("device_id", reading.get("Device ID")) == "dev-1" else OTHER_TOKEN
    alone = client.post("/stream", headers=auth(token), json=reading)
    listed = client.post("/stream", headers=auth(token), json=[reading])
    assert alone.status_code == listed.status_code == 200
    assert alone.json() == listed.json() == {"accepted": 1, "rejected": 0, "errors": []}
    [(key_a, a), (key_l, listed_event)] = producer.topic(SETTINGS.events_topic)
    assert key_a == key_l
    assert {k: v for k, v in a.items() if k != "received_at"} == {
        k: v for k, v in listed_event.items() if k != "received_at"}


def test_one_bad_or_foreign_event_is_answered_as_in_an_array(client: TestClient,
                                                             producer: FakeProducer) -> None:
    for reading in ({"device_id": "dev-1", "measured_at": "2026-07-01T10:00:00Z",
                     "heart_rate_bpm": 900},
                    {"device_id": "dev-2", "measured_at": "2026-07-01T10:00:00Z", "steps": 1}):
        alone = client.post("/stream", headers=auth(), json=reading)
        listed = client.post("/stream", headers=auth(), json=[reading])
        assert (alone.status_code, alone.json()) == (listed.status_code, listed.json())
        assert alone.status_code in (403, 422)
    assert producer.topic(SETTINGS.events_topic) == []
