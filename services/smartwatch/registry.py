"""Users and devices in Postgres: who owns a watch, in which time zone they live, and which
tokens a watch may send with (stored only as SHA-256 hashes).

Emails are personal data: they are stored for the registry's owner and never logged, never
returned by a listing, never copied into the lake or the aggregates.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from typing import Any

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

from smartwatch.events import valid_zone

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


def _alive(conn: Any) -> bool:
    """One round trip on a kept connection; a dead one is closed."""
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        return True
    except (psycopg2.OperationalError, psycopg2.InterfaceError):
        conn.close()
        return False


class RegistryUnavailable(OSError):
    """The registry's Postgres cannot be reached (or went away during a call); the API
    answers 503 with Retry-After, and a later call connects again."""


class Registry:
    """The registry over a small pool of kept-open connections, with short-lived caches for
    the API's hot path (token -> device, device -> owner's zone)."""

    def __init__(self, dsn: str, cache_seconds: float = 30.0, max_connections: int = 8) -> None:
        self.dsn = dsn
        self._idle: list[Any] = []  # open connections not in use, the last used on top
        self._slots = threading.BoundedSemaphore(max_connections)  # callers wait for one
        self._cache_seconds = cache_seconds
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}
        self._loading: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    @contextmanager
    def _conn(self):
        """A connection of the pool, in a transaction committed on success. Connections stay
        open between calls; a kept one is checked first, and one the server dropped (a
        restart, an idle timeout) is replaced by a new one."""
        with self._slots:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is not None and not _alive(conn):
                conn = None
            healthy = False
            try:
                if conn is None:
                    conn = psycopg2.connect(self.dsn)
                with conn:
                    yield conn
                healthy = True
            except psycopg2.OperationalError as exc:  # Postgres unreachable, or gone mid-call
                raise RegistryUnavailable(
                    f"the registry's Postgres is unavailable: {str(exc).strip()}") from exc
            finally:
                if conn is not None and healthy and not conn.closed:
                    with self._lock:
                        self._idle.append(conn)
                elif conn is not None:
                    conn.close()

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
        """Upsert users and device ownership, all or nothing. A device that changes owner
        gets a new owner_since, so its dates are recomputed. The counts of users and devices,
        and the keys that were ignored (`ignored_keys`: key -> entries)."""
        entries = list(entries)
        profiles = parse_profiles(entries)
        users = devices = 0
        with self._conn() as conn, conn.cursor() as cur:
            for p in profiles:
                cur.execute("""INSERT INTO users (user_id, time_zone, email, gender, age)
                               VALUES (%s, %s, %s, %s, %s)
                               ON CONFLICT (user_id) DO UPDATE SET time_zone = EXCLUDED.time_zone,
                                 email = EXCLUDED.email, gender = EXCLUDED.gender,
                                 age = EXCLUDED.age, updated_at = now()""",
                            (p.user_id, p.time_zone, p.user_email, p.gender, p.age))
                users += 1
                if p.device_id:
                    cur.execute("""INSERT INTO devices (device_id, user_id, owner_since)
                                   VALUES (%s, %s, now())
                                   ON CONFLICT (device_id) DO UPDATE SET user_id = EXCLUDED.user_id,
                                     owner_since = CASE WHEN devices.user_id IS DISTINCT FROM
                                       EXCLUDED.user_id THEN now() ELSE devices.owner_since END""",
                                (p.device_id, p.user_id))
                    devices += 1
        self.forget()
        return {"users": users, "devices": devices, "ignored_keys": unknown_keys(entries)}

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
