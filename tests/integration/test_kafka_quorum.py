"""The embedded Kafka's three KRaft nodes, as the chart configures them, survive the loss of
one: the smartwatch-kafka image's entrypoint (build/images/kafka/smartwatch-kafka) runs here
three times, on this machine's Java with the image's jars, with the settings the chart renders for
`kafka.embedded.replicas=3` (the quorum, the topics' replicas, the brokers' properties). A
producer as the API's (acks=all, idempotent) sends while one node is killed (SIGKILL), its
disk wiped, and started again: every record Kafka acknowledged is in the topic, once, and
writes went on meanwhile. The count is taken
here: what the producer was told was acknowledged, against what a consumer reads back."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartwatch_dev import toolchain
from tests.k8s.chart import render, sets
from tests.k8s.operator_env import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

SCRIPT = toolchain.REPO_ROOT / "build" / "images" / "kafka" / "smartwatch-kafka"
NODES = 3


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _image_jars() -> Path:
    """The jars the smartwatch-kafka image ships (its broker and tools), from the set-up
    cache, where the image build resolves them."""
    from smartwatch_dev.stack import images

    jars = images.IMAGES["smartwatch-kafka"].jars
    assert jars is not None
    return images.resolve_jars(jars(toolchain.versions()))


def _chart_env() -> dict[str, str]:
    """The broker settings the chart gives its embedded nodes with 3 replicas."""
    docs = render(sets("kafka.mode=embedded", "kafka.embedded.replicas=3"))
    (sts,) = [d for d in docs if d["kind"] == "StatefulSet" and d["metadata"]["name"].endswith("kafka")]
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


class Quorum:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        chart = _chart_env()
        self.topic = chart["KAFKA_TOPICS"].split()[0].split(":")[0]
        ports = _free_ports(2 * NODES)
        self.ports, self.cports = ports[:NODES], ports[NODES:]
        voters = ",".join(f"{i}@127.0.0.1:{self.cports[i]}" for i in range(NODES))
        assert chart["KAFKA_CONTROLLER_QUORUM_VOTERS"].count("@") == NODES
        self.env = [{**os.environ, "KAFKA_ADVERTISED_HOST": "127.0.0.1", "KAFKA_NODE_ID": str(i),
                     "KAFKA_PORT": str(self.ports[i]), "KAFKA_CONTROLLER_PORT": str(self.cports[i]),
                     "KAFKA_CONTROLLER_QUORUM_VOTERS": voters,
                     "KAFKA_CLUSTER_ID": chart["KAFKA_CLUSTER_ID"],
                     "KAFKA_TOPICS": chart["KAFKA_TOPICS"],
                     "KAFKA_EXTRA_CONFIG": chart["KAFKA_EXTRA_CONFIG"],
                     "KAFKA_HEAP_OPTS": "-Xms128m -Xmx384m",
                     "KAFKA_DATA_DIR": str(tmp / f"data-{i}"),
                     "KAFKA_READY_FILE": str(tmp / f"ready-{i}"),
                     "KAFKA_LIBS": str(_image_jars())} for i in range(NODES)]
        self.procs: dict[int, subprocess.Popen] = {}
        self.bootstrap = ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def start(self, i: int) -> None:
        log = open(self.tmp / f"node-{i}.log", "ab")  # noqa: SIM115 (the process keeps it)
        self.procs[i] = subprocess.Popen(["bash", str(SCRIPT)], env=self.env[i], stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def ready(self, i: int) -> bool:
        return subprocess.run(["bash", str(SCRIPT), "ready"], env=self.env[i],
                              check=False).returncode == 0

    def kill(self, i: int) -> None:
        proc = self.procs.pop(i)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop(self) -> None:
        for i in list(self.procs):
            self.kill(i)


@pytest.fixture
def quorum(tmp_path: Path) -> Iterator[Quorum]:
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        pytest.fail("java not found: make setup installs it")
    q = Quorum(tmp_path)
    try:
        for i in range(NODES):
            q.start(i)
        wait_for("three nodes ready, the topics created", lambda: all(
            q.ready(i) for i in range(NODES)), timeout=180, every=1)
        yield q
    finally:
        q.stop()


async def _send(bootstrap: str, topic: str, n: int, kill_at: int, restart_at: int,
                quorum: Quorum) -> tuple[set[bytes], int]:
    """n records, one at a time (acks=all, idempotent); node 1 killed after `kill_at` and
    started again after `restart_at`. Returns the values acknowledged, and the failures."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True, request_timeout_ms=10000)
    await producer.start()
    acked: set[bytes] = set()
    failed = 0
    try:
        for k in range(n):
            if k == kill_at:  # the node and its disk lost: it comes back empty
                quorum.kill(1)
                shutil.rmtree(quorum.tmp / "data-1")
            if k == restart_at:
                quorum.start(1)
            value = f"reading-{k}".encode()
            try:
                await producer.send_and_wait(topic, value, key=str(k % 17).encode())
                acked.add(value)
            except KafkaError:
                failed += 1
    finally:
        await producer.stop()
    return acked, failed


async def _read_all(bootstrap: str, topic: str) -> list[bytes]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        ends = await consumer.end_offsets(parts)
        out: list[bytes] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            positions = {tp: await consumer.position(tp) for tp in parts}
            if all(positions[tp] >= ends[tp] for tp in parts):
                break
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                out.extend(r.value for r in records)
        return out
    finally:
        await consumer.stop()


def test_three_nodes_lose_no_acknowledged_record_when_one_is_killed(quorum: Quorum) -> None:
    n = 1500
    # Bounded: with one replica a topic (topics.replicas=1), the writes to the lost node's
    # partitions would wait out their timeouts one by one, for most of an hour.
    acked, failed = asyncio.run(asyncio.wait_for(
        _send(quorum.bootstrap, quorum.topic, n, kill_at=500, restart_at=1000, quorum=quorum),
        timeout=240))
    wait_for("the killed node back", lambda: quorum.ready(1), timeout=180, every=1)
    read = asyncio.run(_read_all(quorum.bootstrap, quorum.topic))
    assert acked - set(read) == set(), "acknowledged records are missing"
    assert len(read) == len(set(read)), "a record is in the topic twice"
    # With two of three nodes up (min.insync.replicas 2), writes go on: nearly all of them
    # are acknowledged (a few may time out while the partitions' leaders move).
    assert len(acked) + failed == n and len(acked) >= n - 50, (len(acked), failed)
