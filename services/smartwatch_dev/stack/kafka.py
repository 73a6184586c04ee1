"""A single-node KRaft Kafka broker run from the jars set-up put in the cache."""

from __future__ import annotations

import asyncio
import base64
import uuid
from pathlib import Path
from typing import Any

from smartwatch_dev import toolchain
from smartwatch_dev.stack.process import port_open, reuse_port, spawn, wait_until

LOG4J2_PROPERTIES = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
"""


def server_properties(data: Path, port: int, controller_port: int) -> str:
    return f"""\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
num.partitions=3
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=-1
message.max.bytes=10485760
"""


class Kafka:
    name = "kafka"

    def __init__(self, state: Path, topics: dict[str, int]) -> None:
        self.dir = state / "kafka"
        self.topics = topics

    def start(self, previous: dict[str, Any] | None) -> dict[str, Any]:
        libs = toolchain.kafka_libs()
        java = toolchain.java_bin()
        data = self.dir / "data"
        self.dir.mkdir(parents=True, exist_ok=True)
        port, cport = reuse_port(previous, "port"), reuse_port(previous, "controller_port")
        props = self.dir / "server.properties"
        props.write_text(server_properties(data, port, cport))
        log4j = self.dir / "log4j2.properties"
        log4j.write_text(LOG4J2_PROPERTIES)
        log = self.dir / "kafka.log"
        classpath = f"{libs}/*"
        jvm = [str(java), "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-Djava.awt.headless=true",
               f"-Dlog4j2.configurationFile=file:{log4j}", "-cp", classpath]
        if not (data / "meta.properties").exists():
            # A random id may start with "-": passed as --cluster-id=ID, never as two arguments.
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
            fmt = spawn([*jvm, "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
                         "-c", props], log)
            if fmt.wait(timeout=120) != 0:
                tail = log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"formatting Kafka storage failed; log {log}:\n{tail}")
        proc = spawn([*jvm, "kafka.Kafka", props], log)
        record = {"pid": proc.pid, "address": f"127.0.0.1:{port}", "port": port,
                  "controller_port": cport, "log": str(log), "bootstrap": f"127.0.0.1:{port}"}
        wait_until(lambda: port_open("127.0.0.1", port), 120, "Kafka broker", proc, log)
        asyncio.run(ensure_topics(str(record["bootstrap"]), self.topics))
        return record

    def healthy(self, record: dict[str, Any]) -> bool:
        return port_open("127.0.0.1", record["port"])


async def ensure_topics(bootstrap: str, topics: dict[str, int], timeout: float = 60) -> None:
    """Create the topics that do not exist yet (name -> partitions), once the broker answers."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await admin.start()
            break
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, parts, 1) for name, parts in topics.items() if name not in existing]
        if missing:
            await admin.create_topics(missing)
    finally:
        await admin.close()
