#!/usr/bin/env bash
# make demo: the local stack in .stack/demo, then the pipeline as far as it goes: register a
# fleet's owners, simulate a day of readings through the ingest API into Kafka, count what
# landed in the topic. Everything is stopped again at the end, whatever happens in between.
set -euo pipefail
cd "$(dirname "$0")/.."
sw=".venv/bin/smartwatch"
state=".stack/demo"
$sw stack down --state-dir "$state" >/dev/null && rm -rf "$state"  # a fresh demo each time
trap '$sw stack down --state-dir "$state"' EXIT
$sw stack up --detach --state-dir "$state"
echo
echo "== simulate 20 watches for a day (one reading a minute) through the API"
$sw simulate --state-dir "$state" --devices 20 --days 1 --cadence 60 \
  --ground-truth "$state/ground-truth.ndjson"
echo
echo "== what is in Kafka now"
.venv/bin/python - "$state" <<'PY'
import asyncio, json, sys
from aiokafka import AIOKafkaConsumer, TopicPartition
from smartwatch.settings import Settings
from smartwatch.stack import Stack

status = Stack(Settings(), sys.argv[1]).status()
async def count(topic: str) -> int:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=status["kafka_bootstrap"])
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return sum((await consumer.end_offsets(parts)).values())
    finally:
        await consumer.stop()
for topic in status["topics"].values():
    print(f"{topic}: {asyncio.run(count(topic))} records")
truth = [json.loads(l) for l in open(f"{sys.argv[1]}/ground-truth.ndjson")]
print(f"ground truth: {len(truth)} user-days, {sum(r['steps'] for r in truth)} steps, "
      f"{sum(r['readings'] for r in truth)} readings")
PY
echo
echo "== stack status"
$sw stack status --state-dir "$state" || true
