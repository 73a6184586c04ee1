"""Admin endpoints (admin token): import users, issue device tokens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path
from fastapi.concurrency import run_in_threadpool

from smartwatch.api.deps import AdminDep, StateDep
from smartwatch.registry import ProfileImportError

router = APIRouter(prefix="/v1/admin", dependencies=[AdminDep], tags=["admin"])


@router.post("/users/import", summary="Import users and device owners")
async def import_users(state: StateDep,
                       entries: Annotated[list[dict[str, Any]], Body()]) -> dict[str, Any]:
    """Entries in the prototype's user_profiles.json shape (user_id, device_id, user_email,
    gender, age) with an optional IANA zone, as `time_zone`, `timezone` or `tz` (default UTC),
    and an optional `since` (RFC 3339): when the entry's owner and zone take effect (default:
    now). Ownership and zones have history: an entry that changes the owner or zone in effect
    at its `since` adds a handover or a move there. All or nothing. The answer counts users,
    device owners, handovers and moves added, and names each key that no profile field reads
    (`ignored_keys`: key -> entries)."""
    try:
        counts = await run_in_threadpool(state.registry.import_profiles, entries)
    except ProfileImportError as exc:
        raise HTTPException(422, {"problems": exc.problems}) from None
    return counts


@router.post("/devices/{device_id}/token", summary="Issue a device token")
async def issue_token(state: StateDep, device_id: str = Path(min_length=1, max_length=128)
                      ) -> dict[str, str]:
    """A new token for the device, shown once; earlier tokens of the device are revoked."""
    token = await run_in_threadpool(state.registry.issue_token, device_id)
    return {"device_id": device_id, "token": token}


async def _history(load: Callable[[str], list[dict[str, Any]]], key: str,
                   missing: str) -> list[dict[str, Any]]:
    rows = await run_in_threadpool(load, key)
    if not rows:
        raise HTTPException(404, missing)
    return rows


@router.get("/devices/{device_id}/owners", summary="A device's owners over time")
async def device_owners(state: StateDep, device_id: str = Path(min_length=1, max_length=128)
                        ) -> dict[str, Any]:
    """Oldest first. The first owner also holds what the device measured before its `since`."""
    rows = await _history(state.registry.owners_of, device_id, f"device {device_id} has no owner")
    return {"device_id": device_id, "owners": rows}


@router.get("/users/{user_id}/zones", summary="A user's time zones over time")
async def user_zones(state: StateDep, user_id: str = Path(min_length=1, max_length=128)
                     ) -> dict[str, Any]:
    """Oldest first. The first zone also applies before its `since`."""
    rows = await _history(state.registry.zones_of, user_id, f"user {user_id} is not registered")
    return {"user_id": user_id, "zones": rows}
