"""GET /v1/users/{user_id}/aggregates/{granularity}: the stored figures of one user."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool

from smartwatch.aggregates import query
from smartwatch.api.deps import StateDep, _bearer
from smartwatch.periods import GranularityName

router = APIRouter(prefix="/v1/users", tags=["aggregates"])


@router.get("/{user_id}/aggregates/{granularity}", summary="A user's daily, weekly or monthly "
                                                            "figures")
async def user_aggregates(
    request: Request, state: StateDep, user_id: str,
    granularity: GranularityName,
    start: Annotated[dt.date | None, Query(alias="from", description="first period start")] = None,
    end: Annotated[dt.date | None, Query(alias="to", description="last period start")] = None,
) -> dict[str, Any]:
    """Rows whose period (local day, ISO week's Monday, month's first day) starts in
    [from, to]. The admin token reads any user; a device token reads its owner's rows only."""
    token = _bearer(request)
    admin = state.settings.admin_secret()
    if not (admin and secrets.compare_digest(token.encode(), admin.encode())):
        device = await run_in_threadpool(state.registry.device_for_token, token)
        if device is None:
            raise HTTPException(401, "unknown or revoked token",
                                headers={"WWW-Authenticate": "Bearer"})
        owned = await run_in_threadpool(state.registry.devices_of_user, user_id)
        if device not in owned:
            raise HTTPException(403, f"this token's device is not one of user {user_id!r}'s")
    if start and end and start > end:
        raise HTTPException(400, f"from {start} is after to {end}")
    rows = await run_in_threadpool(query, state.registry.pool, user_id, granularity, start, end)
    return {"user_id": user_id, "granularity": granularity, "rows": rows}
