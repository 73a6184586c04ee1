"""The canonical event: the one definition of a reading.

The API validates with it, the Spark schema is derived from it (`spark_schema()` in the jobs),
and docs/events.md is generated from it (`smartwatch events docs`). A new field is added here.

Input comes in three shapes, all normalised here, so Kafka carries only canonical events:

- canonical: `{"device_id", "measured_at", "heart_rate_bpm", "steps", "sleep_state", ...}`
- legacy A (the prototype's client): `{"device_id", "hr", "steps", "state", "timestamp"}`,
  timestamp in epoch seconds
- legacy B (the prototype's sample data): `{"Device ID", "Heart Rate", "Step Count",
  "Sleeping State", "date": "YYYY-MM-DD HH:MM:SS.fff"}`, date in the owner's local time

Unknown fields are ignored. Numbers must be JSON numbers (a numeric string is a wrong type).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

SCHEMA_VERSION = 1
UTC = dt.UTC

# Steps are counted since the previous reading; one reading may not claim more than this
# (about 100 minutes of running). Larger counts are a device fault, not a walk.
MAX_STEPS_PER_READING = 30_000
#: The longest device_id and event_id, in characters.
MAX_ID_LENGTH = 128
#: The heart rates a reading may carry, beats per minute, inclusive.
MIN_HEART_RATE, MAX_HEART_RATE = 20, 250


class SleepState(StrEnum):
    awake = "awake"
    light = "light"
    deep = "deep"
    rem = "rem"
    asleep = "asleep"
    unknown = "unknown"


# Samples taken in these states count towards "sleep heart rate".
ASLEEP_STATES = frozenset({SleepState.light, SleepState.deep, SleepState.rem, SleepState.asleep})

# Accepted spellings (case-insensitive, surrounding blanks ignored) -> canonical state.
# "restless" is Fitbit's classic state for movement during sleep; Fitbit counts those minutes
# outside "minutes asleep", so its samples are kept out of sleep heart rate: awake.
SLEEP_SPELLINGS: dict[str, SleepState] = {
    "awake": SleepState.awake,
    "asleep": SleepState.asleep,
    "sleeping": SleepState.asleep,
    "sleep": SleepState.asleep,
    "light": SleepState.light,
    "deep": SleepState.deep,
    "rem": SleepState.rem,
    "restless": SleepState.awake,
    "unknown": SleepState.unknown,
}
# JSON booleans, as some prototype clients sent "is sleeping".
SLEEP_BOOLEANS = {True: SleepState.asleep, False: SleepState.awake}


def parse_sleep_state(value: Any) -> SleepState | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return SLEEP_BOOLEANS[value]
    if isinstance(value, str):
        found = SLEEP_SPELLINGS.get(value.strip().lower())
        if found is not None:
            return found
        raise ValueError(
            f"unknown sleep state {value!r}; accepted: {', '.join(sorted(SLEEP_SPELLINGS))}, "
            "true or false"
        )
    raise ValueError(f"sleep state must be a string or a boolean, not {type(value).__name__}")


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", str: "a string", list: "an array", dict: "an object",
             float: "a fraction", type(None): "null"}
    return names.get(type(value), type(value).__name__)


class TimeSource(StrEnum):
    """How `measured_at` became an instant."""

    offset = "offset"  # RFC 3339 with an offset (or Z)
    epoch = "epoch"  # epoch seconds
    owner_zone = "owner_zone"  # naive local time, read in the owner's time zone
    utc_no_owner = "utc_no_owner"  # naive local time of a device without owner: read as UTC


class EventIn(BaseModel):
    """A reading as sent, after the legacy shapes are renamed to canonical names.
    `measured_at` is still raw here; `to_canonical` resolves it to an instant."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    schema_version: Literal[1] = 1
    event_id: StrictStr | None = Field(None, min_length=1, max_length=MAX_ID_LENGTH)
    device_id: StrictStr = Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=r"^[\x21-\x7e]+$")
    measured_at: StrictStr | StrictInt | StrictFloat
    heart_rate_bpm: StrictInt | StrictFloat | None = Field(None, ge=MIN_HEART_RATE,
                                                               le=MAX_HEART_RATE,
                                                               allow_inf_nan=False)
    steps: StrictInt | None = Field(None, ge=0, le=MAX_STEPS_PER_READING)
    sleep_state: SleepState | None = None

    @field_validator("device_id", mode="before")
    @classmethod
    def _device_number(cls, value: Any) -> Any:
        # The prototype numbered its watches; an integer id is read as its decimal string.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("heart_rate_bpm", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"must be a JSON number, not {_json_type(value)}")
        return value

    @field_validator("steps", mode="before")
    @classmethod
    def _count(cls, value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"must be a whole JSON number, not {_json_type(value)}")
        return value

    @field_validator("sleep_state", mode="before")
    @classmethod
    def _sleep(cls, value: Any) -> Any:
        return parse_sleep_state(value)

    @field_validator("schema_version", mode="before")
    @classmethod
    def _version_type(cls, value: Any) -> Any:
        if isinstance(value, bool):  # JSON true would pass as 1
            raise ValueError("schema_version must be the number 1, not a boolean")
        return value

    @field_validator("measured_at", mode="before")
    @classmethod
    def _time_type(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("measured_at must be an RFC 3339 string or epoch seconds, not a boolean")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("measured_at must be finite")
        return value

    @model_validator(mode="after")
    def _some_measure(self) -> EventIn:
        if self.heart_rate_bpm is None and self.steps is None and self.sleep_state is None:
            raise ValueError("a reading needs at least one of heart_rate_bpm, steps, sleep_state")
        return self


class CanonicalEvent(BaseModel):
    """What Kafka carries, one JSON object per record, keyed by device_id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = Field(1, description="Version of this schema.")
    event_id: str = Field(description="Client id of the reading, or derived from its content "
                                      "when the client sent none (a resend gets the same id).")
    device_id: str = Field(description="The watch that took the reading.")
    measured_at: AwareDatetime = Field(description="Instant of the reading, UTC.")
    heart_rate_bpm: float | None = Field(None, description="Heart rate, beats per minute, "
                                                    f"{MIN_HEART_RATE}..{MAX_HEART_RATE}.")
    steps: int | None = Field(None, description="Steps since the previous reading, >= 0.")
    sleep_state: SleepState | None = Field(None, description="awake, light, deep, rem, asleep "
                                                              "or unknown.")
    time_source: TimeSource = Field(description="How measured_at was given: offset, epoch, "
                                                "owner_zone or utc_no_owner.")
    time_zone: str | None = Field(None, description="The IANA zone a naive local time was read "
                                                    "in (owner_zone, utc_no_owner), else null.")
    received_at: AwareDatetime = Field(description="When the API accepted the reading, UTC.")

    def to_json(self) -> bytes:
        """The Kafka record value: the fields in declaration order, times as RFC 3339."""
        return orjson.dumps({name: getattr(self, name) for name in FIELD_NAMES})


FIELD_NAMES = tuple(CanonicalEvent.model_fields)


@dataclasses.dataclass(slots=True)
class _AcceptedBase:
    def to_json(self) -> bytes:
        """The Kafka record value, as CanonicalEvent.to_json gives it."""
        return orjson.dumps(self)


# What the API's hot path builds for an accepted reading: CanonicalEvent's fields in its order,
# already validated, without a pydantic model's construction cost (orjson writes a dataclass
# in field order, enums as their values, datetimes as RFC 3339).
if TYPE_CHECKING:  # the same fields and to_json as CanonicalEvent
    AcceptedEvent = CanonicalEvent
else:
    # Not frozen: a frozen dataclass sets each field through object.__setattr__ (a third of
    # building one).
    AcceptedEvent = dataclasses.make_dataclass(
        "AcceptedEvent", FIELD_NAMES, bases=(_AcceptedBase,), slots=True)


# --- shapes -------------------------------------------------------------------------------------
LEGACY_A = {"hr": "heart_rate_bpm", "state": "sleep_state", "timestamp": "measured_at"}
LEGACY_B = {"Device ID": "device_id", "Heart Rate": "heart_rate_bpm", "Step Count": "steps",
            "Sleeping State": "sleep_state", "date": "measured_at"}


def detect_shape(raw: Mapping[str, Any]) -> str:
    if "Device ID" in raw or "Sleeping State" in raw or ("date" in raw and "measured_at" not in raw):
        return "legacy_b"
    if "measured_at" not in raw and ("timestamp" in raw or "hr" in raw or "state" in raw):
        return "legacy_a"
    return "canonical"


def rename(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The legacy shapes' fields under canonical names; other fields pass through."""
    shape = detect_shape(raw)
    if shape == "canonical":
        return raw if isinstance(raw, dict) else dict(raw)
    mapping = LEGACY_A if shape == "legacy_a" else LEGACY_B
    return {mapping.get(k, k): v for k, v in raw.items()}


# --- time ---------------------------------------------------------------------------------------
def parse_local(text: str) -> tuple[dt.datetime, bool]:
    """(datetime, has_offset). Accepts RFC 3339 (`T` or space, fraction, `Z` or offset) and
    the prototype's `YYYY-MM-DD HH:MM:SS.fff`."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"measured_at {text!r} is not an RFC 3339 timestamp") from None
    if len(value) < 16 or value[10] not in "Tt ":
        raise ValueError(f"measured_at {text!r} needs a date and a time of day")
    return parsed, parsed.tzinfo is not None


def resolve_time(value: str | int | float, owner_zone: str | None) -> tuple[dt.datetime, TimeSource,
                                                                              str | None]:
    """The UTC instant of `measured_at`. A naive local time is read in the owner's zone (UTC
    when the device has no owner yet). In a DST gap the offset before the change applies; an
    ambiguous time (the repeated hour) is its first occurrence."""
    if isinstance(value, int | float):
        try:
            return dt.datetime.fromtimestamp(value, UTC), TimeSource.epoch, None
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"measured_at {value!r} is out of range as epoch seconds") from None
    parsed, has_offset = parse_local(value)
    if has_offset:
        return parsed.astimezone(UTC), TimeSource.offset, None
    zone_name = owner_zone or "UTC"
    local = parsed.replace(tzinfo=ZoneInfo(zone_name), fold=0)
    source = TimeSource.owner_zone if owner_zone else TimeSource.utc_no_owner
    return local.astimezone(UTC), source, zone_name


def valid_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {name!r}") from None
    return name


def derive_event_id(device_id: str, measured_at: dt.datetime, hr: float | None, steps: int | None,
                    sleep: SleepState | None) -> str:
    """Deterministic id of a reading from its content, so a resent reading is the same one."""
    key = "|".join([device_id, measured_at.astimezone(UTC).isoformat(),
                    "" if hr is None else repr(float(hr)), "" if steps is None else str(steps),
                    "" if sleep is None else sleep.value])
    return "d-" + hashlib.sha256(key.encode()).hexdigest()[:32]


# --- the whole path -----------------------------------------------------------------------------
class EventRejected(ValueError):
    """A reading that cannot be accepted: `errors` is a list of {field, reason}."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['reason']}" for e in errors))
        self.errors = errors


def _errors(exc: ValidationError) -> list[dict[str, str]]:
    out = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(p) for p in err["loc"] if not isinstance(p, int)) or "event"
        # Union members repeat the field with the type name appended; keep the field.
        field = field.split(".")[0] if field.split(".")[0] in EventIn.model_fields else field
        msg = str(err["msg"]).removeprefix("Value error, ")
        out.append({"field": field, "reason": msg})
    # One line per field is enough (unions report each alternative).
    seen: dict[str, dict[str, str]] = {}
    for e in out:
        seen.setdefault(e["field"], e)
    return list(seen.values())


ZoneLookup = Callable[[str], str | None]


Fields = tuple[str | None, str, str | int | float, int | float | None, int | None,
               SleepState | None]
"""A reading's checked fields: event_id, device_id, measured_at (raw), heart_rate_bpm, steps,
sleep_state."""


def checked_fields(value: dict[str, Any]) -> Fields:
    """EventIn's fields of a renamed event; raises EventRejected with EventIn's errors."""
    try:
        event = EventIn.model_validate(value)
    except ValidationError as exc:
        raise EventRejected(_errors(exc)) from None
    return (event.event_id, event.device_id, event.measured_at, event.heart_rate_bpm,
            event.steps, event.sleep_state)


def plain_fields(value: dict[str, Any]) -> Fields | None:
    """The fields of an event that EventIn accepts as it is, checked by hand: None for
    anything less plain (a value to convert or strip, or one that may be wrong), which
    `checked_fields` then validates and words the errors of. Together the same as EventIn
    (a test compares them), in a third of its time: the API's hot path."""
    get = value.get
    version = get("schema_version", 1)
    if type(version) is not int or version != 1:
        return None
    device = get("device_id")
    if (type(device) is not str or not 0 < len(device) <= MAX_ID_LENGTH or not device.isascii()
            or not device.isprintable() or " " in device):
        return None
    event_id = get("event_id")
    if event_id is not None and (type(event_id) is not str or not 0 < len(event_id) <= MAX_ID_LENGTH
                                 or len(event_id.strip()) != len(event_id)):
        return None
    measured_at: Any = get("measured_at")
    kind = type(measured_at)
    if kind is str:
        if len(measured_at.strip()) != len(measured_at):
            return None
    elif kind is float:
        if not math.isfinite(measured_at):
            return None
    elif kind is not int:
        return None
    hr = get("heart_rate_bpm")
    if hr is not None and ((type(hr) is not int and type(hr) is not float)
                           or not MIN_HEART_RATE <= hr <= MAX_HEART_RATE):
        return None
    steps = get("steps")
    if steps is not None and (type(steps) is not int or not 0 <= steps <= MAX_STEPS_PER_READING):
        return None
    sleep = get("sleep_state")
    if sleep is not None:
        if type(sleep) is bool:
            sleep = SLEEP_BOOLEANS[sleep]
        elif type(sleep) is str:
            sleep = SLEEP_SPELLINGS.get(sleep.strip().lower())
            if sleep is None:
                return None
        else:
            return None
    elif hr is None and steps is None:
        return None
    return event_id, device, measured_at, hr, steps, sleep


def to_canonical(raw: Any, owner_zone: ZoneLookup, *, received_at: dt.datetime,
                 max_past: dt.timedelta, max_future: dt.timedelta) -> AcceptedEvent:
    """Validate and normalise one decoded JSON value. Raises EventRejected."""
    if not isinstance(raw, dict):
        raise EventRejected([{"field": "event", "reason": f"an event is a JSON object, "
                                                          f"not {type(raw).__name__}"}])
    value = rename(raw)
    event_id, device, raw_time, hr, steps, sleep = (plain_fields(value)
                                                    or checked_fields(value))
    try:
        measured_at, source, zone = resolve_time(raw_time, owner_zone(device)
                                                 if isinstance(raw_time, str) else None)
    except ValueError as exc:
        raise EventRejected([{"field": "measured_at", "reason": str(exc)}]) from None
    if measured_at > received_at + max_future:
        raise EventRejected([{"field": "measured_at", "reason":
                              f"{measured_at.isoformat()} is more than "
                              f"{max_future.total_seconds() / 3600:g} h in the future"}])
    if measured_at < received_at - max_past:
        raise EventRejected([{"field": "measured_at", "reason":
                              f"{measured_at.isoformat()} is more than {max_past.days} days old"}])
    if hr is not None:
        hr = float(hr)
    event_id = event_id or derive_event_id(device, measured_at, hr, steps, sleep)
    # Every value was validated above: build without validating again (the hot path).
    return AcceptedEvent(
        schema_version=SCHEMA_VERSION, event_id=event_id, device_id=device,
        measured_at=measured_at, heart_rate_bpm=hr, steps=steps, sleep_state=sleep,
        time_source=source, time_zone=zone, received_at=received_at)


__all__ = [
    "ASLEEP_STATES",
    "SCHEMA_VERSION",
    "AcceptedEvent",
    "CanonicalEvent",
    "EventIn",
    "EventRejected",
    "SleepState",
    "TimeSource",
    "derive_event_id",
    "detect_shape",
    "parse_sleep_state",
    "resolve_time",
    "to_canonical",
    "valid_zone",
]
