"""The Postgres side of the figures: yearly partitions, the one-transaction replacement of a
window's rows (COPY from the driver, or Spark's JDBC writer through a staging table), and the
owners read from the registry. Tables and columns: smartwatch.periods."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame, SparkSession

from smartwatch.history import Span
from smartwatch.history import spans as history_spans
from smartwatch.periods import MEASURES, PG_TYPES, RUN_COLUMNS, SPECS, Window
from smartwatch_jobs.aggregate.owners import Owners, make_owners

if TYPE_CHECKING:
    import pyarrow as pa


def owned_spans(conn) -> list[Span]:
    """The registry's ownership and zone history as spans (smartwatch.history)."""
    with conn.cursor() as cur:
        cur.execute("SELECT device_id, user_id, since FROM device_owners")
        owners = cur.fetchall()
        cur.execute("SELECT user_id, time_zone, since FROM user_zones")
        zones = cur.fetchall()
    return history_spans(owners, zones)


def load_owners(spark: SparkSession, conn) -> Owners:
    """The registry's ownership and zone history, as the job's owners."""
    return make_owners(spark, [(s.device_id, s.user_id, s.time_zone, s.start, s.end)
                               for s in owned_spans(conn)])


def ensure_partitions(conn, first_year: int, last_year: int) -> None:
    """Yearly partitions of the aggregate tables for [first_year, last_year]."""
    with conn.cursor() as cur:
        for table in (g.table for g in SPECS.values()):
            for year in range(first_year, last_year + 1):
                cur.execute(f"""CREATE TABLE IF NOT EXISTS {table}_{year} PARTITION OF {table}
                                FOR VALUES FROM ('{year}-01-01') TO ('{year + 1}-01-01')""")


def _copy_sql(table: str, columns: list[str]) -> str:
    return f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '')"


def replace_window(conn, window: Window, csv: bytes) -> int:
    """Delete the window's rows and COPY the new ones straight into the table (CSV without
    header, in csv_and_orphans's column order), in the caller's transaction."""
    table = window.spec.table
    period = window.spec.period_column
    with conn.cursor() as cur:
        cur.execute(f"DELETE FROM {table} WHERE {period} BETWEEN %s AND %s",
                    (window.start, window.end))
        cur.copy_expert(_copy_sql(table, [*window.spec.keys, *MEASURES, *RUN_COLUMNS]),
                        io.BytesIO(csv))
        return int(cur.rowcount)


def csv_and_orphans(figures: pa.Table, window: Window, run: str,
                    computed_at: dt.datetime) -> tuple[bytes, int]:
    """The rows of users' periods in the window as CSV (their keys, measures, computed_at and
    run), and the readings of the null-user row (events of devices without owner)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    owned = pc.is_valid(figures.column("user_id"))
    orphans = pc.sum(figures.filter(pc.invert(owned)).column("readings")).as_py() or 0
    period = figures.column(window.spec.period_column)
    kept = pc.and_(owned, pc.and_(pc.greater_equal(period, pa.scalar(window.start)),
                                  pc.less_equal(period, pa.scalar(window.end))))
    rows = figures.filter(kept).select([*window.spec.keys, *MEASURES])
    rows = (rows.append_column("computed_at", pa.repeat(computed_at.isoformat(), len(rows)))
            .append_column("run", pa.repeat(run, len(rows))))
    out = io.BytesIO()
    pcsv.write_csv(rows, out, pcsv.WriteOptions(include_header=False, quoting_style="needed"))
    return out.getvalue(), orphans


def jdbc_target(dsn: str) -> tuple[str, dict[str, str]]:
    """The JDBC URL and properties of a libpq URI."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(dsn)
    url = f"jdbc:postgresql://{parts.hostname}:{parts.port or 5432}{parts.path}"
    return url, {"user": unquote(parts.username or ""), "password": unquote(parts.password or ""),
                 "driver": "org.postgresql.Driver", "reWriteBatchedInserts": "true",
                 "batchsize": "10000"}


def replace_window_jdbc(conn, window: Window, result: DataFrame, dsn: str, run: str,
                        computed_at: dt.datetime) -> int:
    """The bulk load on a cluster (measured against COPY in docs/benchmarks.md): Spark's JDBC
    writer with batched rewritten inserts into a staging table, then the same one-transaction
    swap of the window."""
    table = window.spec.table
    period = window.spec.period_column
    columns = [*window.spec.keys, *MEASURES]
    staging = f"agg_load_{uuid.uuid4().hex[:12]}"
    url, props = jdbc_target(dsn)
    result.write.jdbc(url, staging, mode="overwrite", properties=props)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DELETE FROM {table} WHERE {period} BETWEEN %s AND %s",
                        (window.start, window.end))
            cur.execute(f"""INSERT INTO {table} ({', '.join(columns)}, computed_at, run)
                            SELECT {', '.join(f'{c}::{PG_TYPES[c]}' for c in columns)}, %s, %s
                            FROM {staging}""", (computed_at, run))
            return cur.rowcount
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {staging}")
