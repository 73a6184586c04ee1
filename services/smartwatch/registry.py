"""Users and devices in Postgres: who owns a watch, in which time zone they live, and which
tokens a watch may send with (stored only as SHA-256 hashes).

Emails are personal data: they are stored for the registry's owner and never logged, never
returned by a listing, never copied into the lake or the aggregates.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import psycopg2
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from smartwatch.db.pool import Pool, PostgresUnavailable
from smartwatch.events import valid_zone
from smartwatch.history import in_effect

TOKEN_PREFIX = "swd_"


#: The spellings of the zone key that profiles are written with, the first the canonical one.
ZONE_KEYS = ("time_zone", "timezone", "tz")


class UserProfile(BaseModel):
    """One entry of the prototype's user_profiles.json, plus an optional time zone (under any
    of ZONE_KEYS). Other keys are ignored here and reported by `unknown_keys`."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    user_id: str = Field(min_length=1, max_length=128)
    device_id: str | None = Field(None, min_length=1, max_length=128)
    user_email: str | None = Field(None, max_length=320)
    gender: str | None = Field(None, max_length=32)
    age: int | None = Field(None, ge=0, le=150)
    time_zone: str = Field("UTC", validation_alias=AliasChoices(*ZONE_KEYS))
    #: When the entry's owner and zone take effect (RFC 3339 with an offset): a handover or a
    #: move at that instant. Default: the time of the import.
    since: dt.datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_zone(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            given = {k: value[k] for k in ZONE_KEYS if k in value}
            if len({str(v).strip() for v in given.values()}) > 1:
                raise ValueError("the zone is given twice, differently: "
                                 + ", ".join(f"{k}={v!r}" for k, v in given.items()))
        return value

    @field_validator("user_id", "device_id", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return valid_zone(value)

    @field_validator("since")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("since needs an offset (RFC 3339, e.g. 2026-03-12T18:00:00+01:00)")
        return value


class ProfileImportError(ValueError):
    """Entries of an import that are invalid; nothing of the import was written."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"entry {p['index']}: {p['field']}: {p['reason']}"
                                   for p in problems[:10]))
        self.problems = problems


def unknown_keys(entries: Iterable[Any]) -> dict[str, int]:
    """Keys of the entries that no profile field reads, with how many entries carry each."""
    known = set(UserProfile.model_fields) | set(ZONE_KEYS)
    found: dict[str, int] = {}
    for entry in entries:
        if isinstance(entry, Mapping):
            for key in entry:
                if key not in known:
                    found[str(key)] = found.get(str(key), 0) + 1
    return dict(sorted(found.items()))


def parse_profiles(entries: Iterable[Any]) -> list[UserProfile]:
    profiles, problems = [], []
    for index, entry in enumerate(entries):
        try:
            profiles.append(UserProfile.model_validate(entry))
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                problems.append({"index": index, "field": ".".join(map(str, err["loc"])) or "entry",
                                 "reason": str(err["msg"]).removeprefix("Value error, ")})
    if problems:
        raise ProfileImportError(problems)
    return profiles


@functools.lru_cache(maxsize=65_536)
def hash_token(token: str) -> bytes:
    """The token's SHA-256, as the registry stores it (kept for the tokens seen recently:
    every request of a device hashes the same token)."""
    return hashlib.sha256(token.encode()).digest()


#: The registry's Postgres unreachable: the pool's error (the API answers 503).
RegistryUnavailable = PostgresUnavailable


class Registry:
    """The registry over a small pool of kept-open connections, with short-lived caches for
    the API's hot path (token -> device, device -> owner's zone)."""

    def __init__(self, dsn: str, cache_seconds: float = 30.0, max_connections: int = 8) -> None:
        self.dsn = dsn
        self.pool = Pool(dsn, max_connections)  # shared with the API's other Postgres reads
        self._cache_seconds = cache_seconds
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}
        self._loading: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.pool.close()

    def _conn(self):
        return self.pool.connection()

    def _cached(self, kind: str, key: str, load) -> Any:
        """load()'s value, kept for cache_seconds. Concurrent misses of one key wait for a
        single load instead of each querying Postgres."""
        ck = (kind, key)
        with self._lock:
            found, value = self._peek(kind, key)
            if found:
                return value
            gate = self._loading.setdefault(ck, threading.Lock())
        with gate:
            with self._lock:
                found, value = self._peek(kind, key)
            if found:
                return value
            try:
                value = load()
                with self._lock:
                    if len(self._cache) > 100_000:
                        self._cache.clear()
                    self._cache[ck] = (time.monotonic() + self._cache_seconds, value)
            finally:
                with self._lock:
                    self._loading.pop(ck, None)
        return value

    def _peek(self, kind: str, key: str) -> tuple[bool, Any]:
        hit = self._cache.get((kind, key))
        if hit and hit[0] > time.monotonic():
            return True, hit[1]
        return False, None

    def cached_device(self, token: str) -> str | None:
        """The token's device if the cache knows it (no I/O: safe on the event loop)."""
        found, device = self._peek("token", hash_token(token).hex())
        return device if found else None

    def cached_zone(self, device_id: str) -> tuple[bool, str | None]:
        """(known, owner's zone) of one device from the cache (no I/O)."""
        return self._peek("zone", device_id)

    def cached_zones(self, device_ids: Iterable[str]) -> dict[str, str | None] | None:
        """Owners' zones if the cache knows them all (no I/O), else None."""
        out = {}
        for device in set(device_ids):
            found, zone = self._peek("zone", device)
            if not found:
                return None
            out[device] = zone
        return out

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()

    def ping(self) -> None:
        with self._conn() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")

    # -- reads -----------------------------------------------------------------------------
    def owner_zone(self, device_id: str) -> str | None:
        """The owner's IANA time zone, or None when the device has no owner (yet)."""
        def load() -> str | None:
            with self._conn() as conn, conn.cursor() as cur:
                cur.execute("""SELECT u.time_zone FROM devices d JOIN users u USING (user_id)
                               WHERE d.device_id = %s""", (device_id,))
                row = cur.fetchone()
                return row[0] if row else None
        return self._cached("zone", device_id, load)  # type: ignore[no-any-return]

    def owner_zones(self, device_ids: Iterable[str]) -> dict[str, str | None]:
        return {d: self.owner_zone(d) for d in set(device_ids)}

    def device_for_token(self, token: str) -> str | None:
        digest = hash_token(token)

        def load() -> str | None:
            with self._conn() as conn, conn.cursor() as cur:
                cur.execute("""SELECT device_id FROM device_tokens
                               WHERE token_sha256 = %s AND revoked_at IS NULL""", (digest,))
                row = cur.fetchone()
                return row[0] if row else None
        return self._cached("token", digest.hex(), load)  # type: ignore[no-any-return]

    def devices_of_user(self, user_id: str) -> list[str]:
        with self._conn() as conn, conn.cursor() as cur:
            cur.execute("SELECT device_id FROM devices WHERE user_id = %s ORDER BY 1", (user_id,))
            return [r[0] for r in cur.fetchall()]

    # -- writes ----------------------------------------------------------------------------
    def import_profiles(self, entries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """Upsert users and device ownership, all or nothing. Ownership and zones have
        history: an entry whose owner or zone differs from the one in effect at its `since`
        (default: the time of the import) adds a handover or a move at that instant, and
        records which dates it changes (registry_changes) for the dirty runs; an entry that
        changes nothing adds nothing. The counts of users and devices, the handovers and moves
        added, and the keys that were ignored (`ignored_keys`: key -> entries)."""
        entries = list(entries)
        profiles = parse_profiles(entries)
        users = devices = handovers = moves = 0
        with self._conn() as conn, conn.cursor() as cur:
            cur.execute("SELECT now()")
            now = cur.fetchone()[0]
            for p in profiles:
                at = p.since or now
                cur.execute("""INSERT INTO users (user_id, time_zone, email, gender, age)
                               VALUES (%s, %s, %s, %s, %s)
                               ON CONFLICT (user_id) DO UPDATE SET email = EXCLUDED.email,
                                 gender = EXCLUDED.gender, age = EXCLUDED.age, updated_at = now()""",
                            (p.user_id, p.time_zone, p.user_email, p.gender, p.age))
                users += 1
                moves += _add_history(cur, "user_zones", p.user_id, p.time_zone, at)
                cur.execute("""UPDATE users SET time_zone = (SELECT time_zone FROM user_zones
                                 WHERE user_id = %s ORDER BY since DESC LIMIT 1)
                               WHERE user_id = %s""", (p.user_id, p.user_id))
                if p.device_id:
                    cur.execute("INSERT INTO devices (device_id) VALUES (%s) ON CONFLICT DO NOTHING",
                                (p.device_id,))
                    handovers += _add_history(cur, "device_owners", p.device_id, p.user_id, at)
                    cur.execute("""UPDATE devices SET (user_id, owner_since) = (
                                     SELECT user_id, since FROM device_owners
                                     WHERE device_id = %s ORDER BY since DESC LIMIT 1)
                                   WHERE device_id = %s""", (p.device_id, p.device_id))
                    devices += 1
        self.forget()
        return {"users": users, "devices": devices, "handovers": handovers, "moves": moves,
                "ignored_keys": unknown_keys(entries)}

    def owners_of(self, device_id: str) -> list[dict[str, Any]]:
        """The device's owners over time, oldest first: user_id, since (the first owner also
        holds what the device measured before), recorded_at."""
        with self._conn() as conn, conn.cursor() as cur:
            cur.execute("""SELECT user_id, since, recorded_at FROM device_owners
                           WHERE device_id = %s ORDER BY since""", (device_id,))
            return [{"user_id": u, "since": s, "recorded_at": r} for u, s, r in cur.fetchall()]

    def zones_of(self, user_id: str) -> list[dict[str, Any]]:
        """The user's zones over time, oldest first: time_zone, since (the first applies
        before it too), recorded_at."""
        with self._conn() as conn, conn.cursor() as cur:
            cur.execute("""SELECT time_zone, since, recorded_at FROM user_zones
                           WHERE user_id = %s ORDER BY since""", (user_id,))
            return [{"time_zone": z, "since": s, "recorded_at": r} for z, s, r in cur.fetchall()]

    def issue_token(self, device_id: str) -> str:
        """A new token for the device (registered without owner if unknown); earlier tokens
        of the device are revoked. Only the hash is stored: the token is shown once."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._conn() as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO devices (device_id) VALUES (%s) ON CONFLICT DO NOTHING",
                        (device_id,))
            cur.execute("""UPDATE device_tokens SET revoked_at = now()
                           WHERE device_id = %s AND revoked_at IS NULL""", (device_id,))
            cur.execute("INSERT INTO device_tokens (token_sha256, device_id) VALUES (%s, %s)",
                        (hash_token(token), device_id))
        self.forget()
        return token


def connect_check(dsn: str) -> None:
    """Raise a clear error when Postgres cannot be reached."""
    try:
        psycopg2.connect(dsn, connect_timeout=5).close()
    except psycopg2.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreachable"
        raise RuntimeError(f"Postgres is not reachable: {first}") from None



class _History(NamedTuple):
    """The constant statements of one history table."""

    select: str  # (value, since) entries of a key
    insert: str  # (key, value, since)
    is_device: bool  # a device's owners (else a user's zones)


_HISTORIES = {
    "device_owners": _History(
        "SELECT user_id, since FROM device_owners WHERE device_id = %s",
        """INSERT INTO device_owners (device_id, user_id, since) VALUES (%s, %s, %s)
           ON CONFLICT (device_id, since) DO UPDATE SET user_id = EXCLUDED.user_id,
             recorded_at = now()""", True),
    "user_zones": _History(
        "SELECT time_zone, since FROM user_zones WHERE user_id = %s",
        """INSERT INTO user_zones (user_id, time_zone, since) VALUES (%s, %s, %s)
           ON CONFLICT (user_id, since) DO UPDATE SET time_zone = EXCLUDED.time_zone,
             recorded_at = now()""", False),
}


def _add_history(cur: Any, table: str, key_value: str, value: str, at: dt.datetime) -> int:
    """Adds `value` to the history `table` of `key_value` at `at` when it differs from the
    value in effect then; records the change (registry_changes: a device's, or a user's for
    the devices they held) from `at`, or from the start of time when the entry becomes the
    first, which holds everything before. 1 if a handover or move was added, else 0."""
    history = _HISTORIES[table]
    cur.execute(history.select, (key_value,))
    entries = cur.fetchall()
    if in_effect(entries, at) == value:
        return 0
    cur.execute(history.insert, (key_value, value, at))
    if not entries and not history.is_device:
        return 0  # a new user: their devices' owner entries record the change
    earliest = min((since for _, since in entries), default=None)
    effective: dt.datetime | str = at if earliest is not None and earliest <= at else "-infinity"
    device, user = (key_value, None) if history.is_device else (None, key_value)
    cur.execute("""INSERT INTO registry_changes (device_id, user_id, effective_from)
                   VALUES (%s, %s, %s)""", (device, user, effective))
    return 1 if entries else 0
