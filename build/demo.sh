#!/usr/bin/env bash
# make demo: the local stack in .stack/demo, then the pipeline: register a fleet's owners,
# simulate a day of readings through the ingest API into Kafka, land them in the Parquet lake
# with Spark, aggregate the dirty dates into Postgres, and show what is where. Everything is stopped again at the end,
# whatever happens in between.
set -euo pipefail
cd "$(dirname "$0")/.."
sw=".venv/bin/smartwatch"
state=".stack/demo"
$sw stack purge --state-dir "$state" >/dev/null  # a fresh demo each time
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
echo "== land Kafka into the Parquet lake (Spark, available-now)"
$sw land --available-now --state-dir "$state" 2>&1 | grep -E "smartwatch_jobs|Error" || true
.venv/bin/python - "$state" <<'PY'
import sys
import duckdb, psycopg2
from smartwatch.settings import Settings
from smartwatch.stack import Stack

status = Stack(Settings(), sys.argv[1]).status()
lake = status["lake_uri"].removeprefix("file://")
print(f"lake {status['lake_uri']}:")
for day, n, devices in duckdb.sql(
        f"SELECT event_date, count(*), count(DISTINCT device_id) FROM read_parquet('{lake}/*/*.parquet',"
        " hive_partitioning = true) GROUP BY 1 ORDER BY 1").fetchall():
    print(f"  {day}: {n} readings from {devices} watches")
with psycopg2.connect(status["postgres_dsn"]) as conn, conn.cursor() as cur:
    cur.execute("SELECT event_date, rows FROM dirty_dates ORDER BY 1")
    print("dirty dates for the aggregation:", ", ".join(f"{d} ({n})" for d, n in cur.fetchall()))
PY
echo
echo "== aggregate the dirty dates (daily, weekly, monthly) into Postgres"
for g in daily weekly monthly; do
  $sw aggregate --granularity $g --dirty --state-dir "$state" 2>&1 | grep -E "rows|no dirty|Error"
done
echo
echo "== one user's daily figures, as the API and smartwatch query serve them"
$sw query sim-user-00001 --granularity daily --state-dir "$state"
echo
echo "== stack status"
$sw stack status --state-dir "$state" || true
