"""The landing job: Kafka's events topic to a Parquet lake partitioned by UTC event date.

Each Kafka record exactly once: Spark's checkpoint holds the Kafka offsets of each
micro-batch; every batch writes its files under names that carry the landing id and batch id
(a replayed batch first deletes what an interrupted attempt of it left, then writes again),
and records its row counts per date in Postgres keyed by (landing id, batch id). So a batch
that runs twice leaves what it leaves once.

Landing does not deduplicate: a resent reading (another Kafka record with the same device_id
and event_id) is in the lake until compaction keeps the first received copy of each date's
readings, and the aggregation counts each reading once whatever the lake holds. So a micro-batch
is one pass over its records: no shuffle, no state, nothing kept between its writes.

Records that are not canonical events go to the quarantine dataset with the raw value, the
reason, and their topic, partition and offset; the stream goes on.

Each batch also records, in the same transaction, the offsets it landed up to
(`landing_progress`, read from the batch's entry in the checkpoint's offset log): the
landing's committed offsets, against which its lag is measured (smartwatch.lag; the
continuous landing serves it as metrics, landing_metrics; `smartwatch audit` reports it).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from smartwatch_jobs.lakeroot import ensure_marker
from smartwatch_jobs.schema import TIMESTAMP_FIELDS, event_schema, problems, wire_schema

log = logging.getLogger(__name__)

KAFKA_COLUMNS = ("kafka_partition", "kafka_offset", "kafka_timestamp")


@dataclass(frozen=True)
class LandingConfig:
    bootstrap: str
    topic: str
    lake: str
    quarantine: str
    checkpoint: str
    postgres_dsn: str | None
    max_record_bytes: int = 1024 * 1024
    max_offsets_per_trigger: int | None = None
    starting_offsets: str = "earliest"
    kafka_options: dict[str, str] = field(default_factory=dict)  # security (Settings)
    # The continuous landing's lag metrics (landing_metrics): port (0: none), interval and
    # the security options of an aiokafka client.
    metrics_port: int = 0
    lag_interval_seconds: float = 15
    client_options: dict[str, Any] = field(default_factory=dict)


# --- transformations (shared by batch tests and the stream) --------------------------------
def parse(raw: DataFrame, max_record_bytes: int) -> DataFrame:
    """Kafka rows (value, topic, partition, offset, timestamp) -> one row per record with the
    canonical columns, `problem` (null for a valid event), the raw text and Kafka lineage."""
    text = F.col("value").cast("string")
    parsed = F.from_json(text, wire_schema(), {"mode": "PERMISSIVE",
                                               "columnNameOfCorruptRecord": "_corrupt_record"})
    df = raw.select(text.alias("raw"), F.col("value").alias("raw_bytes"), parsed.alias("ev"),
                    F.col("topic"),
                    F.col("partition").alias("kafka_partition"),
                    F.col("offset").alias("kafka_offset"),
                    F.col("timestamp").alias("kafka_timestamp"))
    # Times are read in a projection of their own: the validity checks use them again inside
    # conditions, where Spark would not share one reading between the two uses.
    df = df.select("*", *[F.try_to_timestamp(F.col("ev")[name]).alias(f"_time_{name}")
                          for name in TIMESTAMP_FIELDS])
    times = {name: F.col(f"_time_{name}") for name in TIMESTAMP_FIELDS}
    columns = [(times[field.name] if field.name in times else F.col("ev")[field.name])
               .cast(field.dataType).alias(field.name) for field in event_schema().fields]
    return df.select(
        *columns,
        problems(F.col("ev"), F.col("raw"), max_record_bytes, times).alias("problem"),
        "raw", "raw_bytes", "topic", *KAFKA_COLUMNS,
    ).withColumn("event_date", F.to_date("measured_at"))


def valid_rows(df: DataFrame) -> DataFrame:
    names = [f.name for f in event_schema().fields]
    return df.filter(F.col("problem").isNull()).select(*names, *KAFKA_COLUMNS, "event_date")


def quarantine_rows(df: DataFrame) -> DataFrame:
    """The records that are not events: their value as text (`raw`, valid UTF-8, with U+FFFD
    for each byte sequence that is not UTF-8, so every Parquet reader reads it) and as it came
    (`raw_bytes`, binary), the reasons, and Kafka lineage."""
    return df.filter(F.col("problem").isNotNull()).select(
        F.make_valid_utf8("raw").alias("raw"), "raw_bytes", F.col("problem").alias("error"),
        "topic", *KAFKA_COLUMNS,
        F.to_date("kafka_timestamp").alias("ingest_date"))


# --- publishing files idempotently -----------------------------------------------------------
class Publisher:
    """Writes a batch's rows under <base>/<partition column>=<value>/part-<landing>-<batch>-N,
    replacing whatever an earlier attempt of the same batch left there."""

    def __init__(self, spark: SparkSession, landing_id: str) -> None:
        self.spark = spark
        self.landing_id = landing_id
        jvm = spark.sparkContext._jvm
        assert jvm is not None
        self._Path = jvm.org.apache.hadoop.fs.Path
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _fs(self, path: Any) -> Any:
        return path.getFileSystem(self._conf)

    def publish(self, df: DataFrame, base: str, partition_column: str,
                batch_id: int) -> dict[str, int]:
        """Rows published a partition value, read from the files' Parquet footers."""
        base_path = self._Path(base)
        fs = self._fs(base_path)
        prefix = f"part-{self.landing_id}-{batch_id:012d}-"
        stage = self._Path(f"{base.rstrip('/')}/_staging/{self.landing_id}-{batch_id:012d}")
        fs.delete(stage, True)
        df.write.partitionBy(partition_column).parquet(stage.toString())
        for old in fs.globStatus(self._Path(f"{base.rstrip('/')}/{partition_column}=*/{prefix}*"))\
                or []:
            fs.delete(old.getPath(), False)
        counts: dict[str, int] = {}
        for part_dir in fs.listStatus(stage):
            name = part_dir.getPath().getName()
            if not (part_dir.isDirectory() and name.startswith(f"{partition_column}=")):
                continue
            target = self._Path(base_path, name)
            fs.mkdirs(target)
            files = [f for f in fs.listStatus(part_dir.getPath())
                     if f.getPath().getName().endswith(".parquet")]
            counts[name.split("=", 1)[1]] = sum(self._rows(f.getPath()) for f in files)
            for n, f in enumerate(files):
                if not fs.rename(f.getPath(), self._Path(target, f"{prefix}{n:05d}.parquet")):
                    raise OSError(f"could not move {f.getPath()} into {target}")
        fs.delete(stage, True)
        return counts

    def _rows(self, path: Any) -> int:
        """A Parquet file's rows, from its footer."""
        jvm = self.spark.sparkContext._jvm
        assert jvm is not None
        parquet = jvm.org.apache.parquet.hadoop
        reader = parquet.ParquetFileReader.open(
            parquet.util.HadoopInputFile.fromPath(path, self._conf))
        try:
            return int(reader.getRecordCount())
        finally:
            reader.close()

    def landing_id_of(self, checkpoint: str) -> str:
        """A stable id of the checkpoint (created with it), so file names of two landing jobs
        with different checkpoints never collide."""
        path = self._Path(f"{checkpoint.rstrip('/')}/smartwatch-landing-id")
        fs = self._fs(path)
        if not fs.exists(path):
            out = fs.create(path, False)
            out.writeBytes(uuid.uuid4().hex[:12])
            out.close()
        return self.read_text(path.toString()).strip()

    def read_text(self, uri: str) -> str:
        """A small file's text (UTF-8)."""
        path = self._Path(uri)
        stream = self._fs(path).open(path)
        try:
            jvm = self.spark.sparkContext._jvm
            assert jvm is not None  # a running context has its gateway
            io_utils = jvm.org.apache.commons.io.IOUtils
            return str(io_utils.toString(stream, "UTF-8"))
        finally:
            stream.close()


def record_batch(dsn: str, landing_id: str, batch_id: int,
                 counts: list[tuple[dt.date, int]], ends: dict[tuple[str, int], int]) -> None:
    """One batch, after its files are in the lake, in one transaction: its rows a UTC date
    (recorded once however often the batch runs, and added to the dirty dates) and the
    offsets it landed up to (`ends`: (topic, partition) -> the next offset to land)."""
    import psycopg2
    import psycopg2.extras

    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        if counts:
            psycopg2.extras.execute_values(cur, """
                WITH new AS (
                    INSERT INTO landing_batches (landing_id, batch_id, event_date, rows)
                    VALUES %s ON CONFLICT DO NOTHING RETURNING event_date, rows)
                INSERT INTO dirty_dates (event_date, rows)
                SELECT event_date, rows FROM new
                ON CONFLICT (event_date) DO UPDATE
                  SET rows = dirty_dates.rows + EXCLUDED.rows, last_dirtied_at = now()""",
                [(landing_id, batch_id, d, n) for d, n in counts])
        if ends:
            psycopg2.extras.execute_values(cur, """
                INSERT INTO landing_progress (landing_id, topic, kafka_partition, next_offset,
                                              batch_id)
                VALUES %s
                ON CONFLICT (landing_id, topic, kafka_partition) DO UPDATE
                  SET next_offset = GREATEST(landing_progress.next_offset, EXCLUDED.next_offset),
                      batch_id = EXCLUDED.batch_id, landed_at = now()""",
                [(landing_id, t, p, o, batch_id) for (t, p), o in sorted(ends.items())])
    conn.close()


def batch_ends(offset_log: str) -> dict[tuple[str, int], int]:
    """The end offsets of a micro-batch, from its entry in the checkpoint's offset log (which
    Spark writes before the batch runs): a version line, the batch's metadata, then one line
    a source, {"topic": {"partition": next offset}}."""
    import json

    ends: dict[tuple[str, int], int] = {}
    for line in offset_log.splitlines()[2:]:
        if line.strip() in ("", "-"):
            continue
        for topic, parts in json.loads(line).items():
            ends.update({(topic, int(p)): int(o) for p, o in parts.items()})
    return ends


# --- the stream -------------------------------------------------------------------------------
def build_stream(spark: SparkSession, cfg: LandingConfig) -> DataFrame:
    reader = (spark.readStream.format("kafka")
              .option("kafka.bootstrap.servers", cfg.bootstrap)
              .option("subscribe", cfg.topic)
              .option("startingOffsets", cfg.starting_offsets)
              .option("failOnDataLoss", "true")
              .options(**cfg.kafka_options))
    if cfg.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(cfg.max_offsets_per_trigger))
    return parse(reader.load(), cfg.max_record_bytes)


def batch_writer(spark: SparkSession, cfg: LandingConfig, landing_id: str):
    publisher = Publisher(spark, landing_id)

    def write(df: DataFrame, batch_id: int) -> None:
        """One pass over the batch's records writes the lake and counts the records that are
        not events; only a batch that has some reads its records again, for quarantine
        (most batches have none, and keeping every batch for a second reader cost more than
        such a second pass)."""
        bad = Observation(f"landing-{landing_id}-{batch_id}")
        observed = df.observe(bad, F.count_if(F.col("problem").isNotNull()).alias("records"))
        landed = publisher.publish(valid_rows(observed), cfg.lake, "event_date", batch_id)
        quarantined = int(bad.get["records"] or 0)
        if quarantined:
            publisher.publish(quarantine_rows(df), cfg.quarantine, "ingest_date", batch_id)
        counts = sorted((dt.date.fromisoformat(d), n) for d, n in landed.items() if n)
        if cfg.postgres_dsn:
            ends = batch_ends(publisher.read_text(
                f"{cfg.checkpoint.rstrip('/')}/offsets/{batch_id}"))
            record_batch(cfg.postgres_dsn, landing_id, batch_id, counts, ends)
        log.info("batch %d: %d rows on %d dates, %d quarantined", batch_id,
                 sum(n for _, n in counts), len(counts), quarantined)

    return write


def run(spark: SparkSession, cfg: LandingConfig, *, available_now: bool,
        trigger_seconds: float) -> None:
    ensure_marker(spark, cfg.lake)  # the lake identifies itself to the aggregation
    landing_id = Publisher(spark, "").landing_id_of(cfg.checkpoint)
    # No batch without new records: `--available-now` ends after its last records.
    spark.conf.set("spark.sql.streaming.noDataMicroBatches.enabled", "false")
    writer = (build_stream(spark, cfg).writeStream
              .foreachBatch(batch_writer(spark, cfg, landing_id))
              .option("checkpointLocation", cfg.checkpoint)
              .queryName("smartwatch-landing"))
    if available_now:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{trigger_seconds:g} seconds")
        if cfg.metrics_port and cfg.postgres_dsn:
            start_lag_metrics(cfg, landing_id)
    query = writer.start()
    query.awaitTermination()


def start_lag_metrics(cfg: LandingConfig, landing_id: str) -> None:
    """The lag metrics of this landing (its committed offsets in Postgres) on cfg.metrics_port."""
    from smartwatch_jobs import landing_metrics

    def landed() -> dict[int, int]:
        import psycopg2

        from smartwatch.lag import landed_offsets

        assert cfg.postgres_dsn
        with psycopg2.connect(cfg.postgres_dsn) as conn:
            found = landed_offsets(conn, cfg.topic, landing_id)
        conn.close()
        return found

    landing_metrics.start(cfg.metrics_port, cfg.lag_interval_seconds, cfg.bootstrap, cfg.topic,
                          landed, cfg.client_options)
