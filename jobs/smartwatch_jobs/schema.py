"""The Spark side of the canonical event, derived from the pydantic model in
smartwatch.events: a new field there appears here without an edit."""

from __future__ import annotations

import datetime as dt
import enum
import types
import typing
from typing import Any

from pydantic import AwareDatetime
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from smartwatch.events import (
    MAX_HEART_RATE,
    MAX_ID_LENGTH,
    MAX_STEPS_PER_READING,
    MIN_HEART_RATE,
    CanonicalEvent,
    SleepState,
    TimeSource,
)

# Where a copy of an event was received, in the order that picks the copy that counts: the
# first received, then the lowest Kafka position. Unique per Kafka record.
POSITION = ("received_at", "kafka_partition", "kafka_offset")

TIMESTAMP_FIELDS = tuple(n for n, f in CanonicalEvent.model_fields.items()
                         if f.annotation in (AwareDatetime, dt.datetime))


def _spark_type(annotation: Any) -> tuple[T.DataType, bool]:
    """(Spark type, nullable) of a model annotation."""
    nullable = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        annotation = args[0]
    if typing.get_origin(annotation) is typing.Literal:
        annotation = type(typing.get_args(annotation)[0])
    if annotation in (AwareDatetime, dt.datetime):
        return T.TimestampType(), nullable
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return T.StringType(), nullable
    mapping = {str: T.StringType(), int: T.LongType(), float: T.DoubleType(),
               bool: T.BooleanType()}
    return mapping[annotation], nullable


def event_schema() -> T.StructType:
    """The canonical event as Spark types (timestamps as TimestampType, UTC)."""
    fields = []
    for name, field in CanonicalEvent.model_fields.items():
        spark_type, nullable = _spark_type(field.annotation)
        fields.append(T.StructField(name, spark_type, nullable))
    return T.StructType(fields)


def wire_schema() -> T.StructType:
    """What from_json reads: timestamps as strings (parsed strictly afterwards), every field
    nullable (a missing field is an error reported by `problems`), plus the corrupt-record
    column that receives text that is not JSON of this shape."""
    fields = [T.StructField(f.name, T.StringType() if f.name in TIMESTAMP_FIELDS else f.dataType,
                            True) for f in event_schema().fields]
    return T.StructType([*fields, T.StructField("_corrupt_record", T.StringType(), True)])


def problems(ev: Column, raw: Column, max_bytes: int, times: dict[str, Column]) -> Column:
    """Why a parsed record is not a canonical event (null when it is), as one text: the rules
    of the model, checked on the Spark side for what reaches Kafka from anywhere. `times`
    holds the timestamp fields as read by try_to_timestamp, read once by the caller."""
    hr_low, hr_high = MIN_HEART_RATE, MAX_HEART_RATE
    steps_low, steps_high = 0, MAX_STEPS_PER_READING
    checks: list[tuple[Column, str]] = [
        (ev["schema_version"].isNull() | (ev["schema_version"] != 1),
         "unknown schema_version (expected 1)"),
        (ev["event_id"].isNull() | (F.length(ev["event_id"]) == 0), "event_id is missing"),
        (F.length(ev["event_id"]) > MAX_ID_LENGTH,
         f"event_id is longer than {MAX_ID_LENGTH} characters"),
        (ev["device_id"].isNull() | (F.length(ev["device_id"]) == 0), "device_id is missing"),
        (ev["measured_at"].isNull(), "measured_at is missing"),
        (times["measured_at"].isNull() & ev["measured_at"].isNotNull(),
         "measured_at is not a timestamp"),
        (ev["received_at"].isNull() | times["received_at"].isNull(),
         "received_at is missing or not a timestamp"),
        ((ev["heart_rate_bpm"] < hr_low) | (ev["heart_rate_bpm"] > hr_high)
         | F.isnan(ev["heart_rate_bpm"]), f"heart_rate_bpm outside {hr_low:g}..{hr_high:g}"),
        ((ev["steps"] < steps_low) | (ev["steps"] > steps_high),
         f"steps outside {steps_low:g}..{steps_high:g}"),
        (ev["sleep_state"].isNotNull() & ~ev["sleep_state"].isin([s.value for s in SleepState]),
         "unknown sleep_state"),
        (ev["time_source"].isNull() | ~ev["time_source"].isin([s.value for s in TimeSource]),
         "time_source missing or unknown"),
        (ev["heart_rate_bpm"].isNull() & ev["steps"].isNull() & ev["sleep_state"].isNull(),
         "no measure (heart_rate_bpm, steps, sleep_state)"),
    ]
    reasons = F.concat_ws("; ", *[F.when(cond, F.lit(text)) for cond, text in checks])
    return (F.when(raw.isNull(), F.lit("record has no value"))
            .when(F.octet_length(raw) > max_bytes, F.lit(f"record is larger than {max_bytes} bytes"))
            .when(ev.isNull() | ev["_corrupt_record"].isNotNull(),
                  F.lit("not JSON, or a field has the wrong type for the canonical schema"))
            .when(reasons == "", F.lit(None))
            .otherwise(reasons))
