"""A lake that identifies itself.

The landing job writes a small marker file, `_smartwatch_lake`, at the lake's root when it
starts. The aggregation requires it before it reads: a root that does not exist, cannot be
listed, or is not a lake of this project (no marker, and none of the `event_date=` folders
that lakes landed before the marker existed have) fails the run before any figure is
replaced, with one line that names the lake URI. So a typo in a lake URI, or a `file://`
lake that is mounted only on the landing pod, can never replace figures with the emptiness of
a wrong path. An existing lake with no readings in a window still replaces that window with
nothing: that is what the lake says.

Spark and Hadoop skip files whose names start with `_` when they read a folder, so the
marker is invisible to every reader of the lake's Parquet files.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession

MARKER = "_smartwatch_lake"
MARKER_TEXT = ('{"kind": "smartwatch-lake", "version": 1, '
               '"layout": "event_date=YYYY-MM-DD/*.parquet"}\n')
PARTITION_PREFIX = "event_date="


class LakeError(RuntimeError):
    """The lake named by a URI cannot be used; the message names the URI and says why."""


def _root(spark: SparkSession, lake: str) -> tuple[Any, Any]:
    """(Hadoop Path of the lake's root, its FileSystem)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    path = jvm.org.apache.hadoop.fs.Path(lake.rstrip("/"))
    return path, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def _java_reason(exc: Exception) -> str:
    """The first line of a Java exception's message (or Python's), for one-line errors."""
    java = getattr(exc, "java_exception", None)
    text = str(java.toString()) if java is not None else str(exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def ensure_marker(spark: SparkSession, lake: str) -> None:
    """The landing job's first step: the lake's root exists and holds the marker."""
    root, fs = _root(spark, lake)
    marker = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(root, MARKER)  # type: ignore[union-attr]
    try:
        if fs.exists(marker):
            return
        fs.mkdirs(root)
        out = fs.create(marker, True)  # two landings starting at once write the same text
        try:
            out.write(bytearray(MARKER_TEXT.encode()))
        finally:
            out.close()
    except Exception as exc:  # py4j's Py4JJavaError and the like
        raise LakeError(f"the lake {lake} cannot be written: {_java_reason(exc)}") from exc


def partition_names(spark: SparkSession, lake: str) -> list[str]:
    """The names of the lake root's `event_date=` folders, once the root is known to be a lake
    of this project; LakeError (naming `lake`) when it does not exist, cannot be listed, or
    is not such a lake."""
    root, fs = _root(spark, lake)
    try:
        if not fs.exists(root):
            raise LakeError(f"the lake {lake} does not exist: check the lake URI "
                            "(SMARTWATCH_LAKE_URI, or the schedule's spec.lake)")
        statuses = list(fs.listStatus(root))
    except LakeError:
        raise
    except Exception as exc:  # py4j's Py4JJavaError: permissions, a missing bucket, ...
        raise LakeError(f"the lake {lake} cannot be listed: {_java_reason(exc)}") from exc
    names = [s.getPath().getName() for s in statuses]
    folders = sorted(n for n, s in zip(names, statuses, strict=True)
                     if s.isDirectory() and n.startswith(PARTITION_PREFIX))
    if MARKER not in names and not folders:
        raise LakeError(f"{lake} is not a lake of this project: it has no {MARKER} file (the "
                        "landing job writes it when it starts) and no event_date= folder")
    return folders
