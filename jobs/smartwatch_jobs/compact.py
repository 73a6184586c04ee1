"""Compaction: rewrite a date range of the lake's small files into few large ones, each
reading of a date (one device's one event_id) once, its first received copy, atomically for
readers.

Each date partition is rebuilt beside the live one: the compacted files, plus hard links of
every file that is not compacted (files of batches the landing job has not committed yet,
which a replay may still replace). Then the two folders are exchanged in one `renameat2`
(RENAME_EXCHANGE) call, so a reader lists either the old set or the new one, never a mix.
Files that the landing job published during the rebuild are moved over afterwards. This needs
a local (file://) lake; object stores have no atomic exchange, and the command says so.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import math
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F

from smartwatch_jobs.schema import POSITION

BATCH_FILE = re.compile(r"^part-[0-9a-f]+-(\d{12})-\d+\.parquet$")
RENAME_EXCHANGE = 2
AT_FDCWD = -100


@dataclass
class DateResult:
    date: dt.date
    files_before: int
    files_after: int
    rows: int  # of the compacted files
    copies_dropped: int  # later copies of an event_id in the files compacted


def local_path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        raise ValueError(f"compaction swaps folders atomically, which needs a local lake "
                         f"(file://); {uri} is {parsed.scheme}://")
    return Path(parsed.path)


def exchange(a: Path, b: Path) -> None:
    """Swap two folders atomically (Linux renameat2 with RENAME_EXCHANGE)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"renameat2 exchange of {a} and {b}: {os.strerror(err)}")


def committed_batch(checkpoint: Path) -> int:
    """The landing job's last committed micro-batch (-1 when none)."""
    commits = checkpoint / "commits"
    ids = [int(p.name) for p in commits.iterdir() if p.name.isdigit()] if commits.exists() else []
    return max(ids, default=-1)


def compactable(name: str, committed: int) -> bool:
    if name.startswith("compact-") and name.endswith(".parquet"):
        return True
    m = BATCH_FILE.match(name)
    return m is not None and int(m.group(1)) <= committed


def compact(spark: SparkSession, lake_uri: str, checkpoint_uri: str, start: dt.date,
            end: dt.date, target_file_bytes: int = 128 * 1024 * 1024) -> list[DateResult]:
    lake = local_path(lake_uri)
    committed = committed_batch(local_path(checkpoint_uri))
    results = []
    day = start
    while day <= end:
        live = lake / f"event_date={day.isoformat()}"
        if live.is_dir():
            result = _compact_date(spark, lake, live, day, committed, target_file_bytes)
            if result:
                results.append(result)
        day += dt.timedelta(days=1)
    return results


def _compact_date(spark: SparkSession, lake: Path, live: Path, day: dt.date, committed: int,
                  target: int) -> DateResult | None:
    inputs = sorted(p for p in live.iterdir() if compactable(p.name, committed))
    if not inputs or (len(inputs) == 1 and inputs[0].name.startswith("compact-")):
        return None  # a compacted file holds each id once already
    token = uuid.uuid4().hex[:8]
    work = lake / "_compact" / token
    staged = work / "out"
    fresh = work / live.name
    df = spark.read.parquet(*[f"file://{p}" for p in inputs])
    rows_in = df.count()
    # Of each reading's copies (one device's one id), the first received (then the lowest
    # Kafka position): the copy the aggregation counts.
    first = Window.partitionBy("device_id", "event_id").orderBy(*POSITION)
    once = df.withColumn("_copy", F.row_number().over(first)).filter("_copy = 1").drop("_copy")
    n_files = max(1, math.ceil(sum(p.stat().st_size for p in inputs) / target))
    once.coalesce(n_files).write.parquet(f"file://{staged}")
    rows = spark.read.parquet(f"file://{staged}").count()
    fresh.mkdir(parents=True)
    for n, part in enumerate(sorted(staged.glob("part-*.parquet"))):
        part.rename(fresh / f"compact-{token}-{n:05d}.parquet")
    kept = set()
    for p in live.iterdir():  # not compacted: linked into the new folder as they are
        if p.suffix == ".parquet" and p not in inputs:
            os.link(p, fresh / p.name)
            kept.add(p.name)
    exchange(live, fresh)  # `fresh` now holds the old files
    compacted = {p.name for p in inputs}
    for p in fresh.iterdir():  # published by landing during the rebuild
        if p.suffix == ".parquet" and p.name not in kept and p.name not in compacted:
            p.rename(live / p.name)
    shutil.rmtree(work)
    return DateResult(day, len(inputs) + len(kept), n_files + len(kept), rows, rows_in - rows)
