"""Request dependencies: the app's state, device identity and admin access."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from smartwatch.api.metrics import Metrics
from smartwatch.api.producer import EventProducer
from smartwatch.registry import Registry
from smartwatch.settings import Settings


@dataclass
class AppState:
    settings: Settings
    producer: EventProducer
    registry: Registry
    metrics: Metrics
    in_flight: int = 0  # ingest requests being handled (one event loop: no lock needed)

    def __post_init__(self) -> None:
        self.max_past = dt.timedelta(days=self.settings.max_past_days)
        self.max_future = dt.timedelta(hours=self.settings.max_future_hours)


async def get_state(request: Request) -> AppState:
    return request.app.state.smartwatch  # type: ignore[no-any-return]


StateDep = Annotated[AppState, Depends(get_state)]


def _bearer(request: Request) -> str:
    return bearer_token(request.headers.get("authorization"))


def bearer_token(header: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header; 401 without one."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "send Authorization: Bearer <token>",
                            headers={"WWW-Authenticate": "Bearer"})
    return token.strip()


async def device_identity(state: AppState, authorization: str | None) -> str | None:
    """The device whose token came in the Authorization header; None when auth is off."""
    if not state.settings.api_auth:
        return None
    token = bearer_token(authorization)
    device = state.registry.cached_device(token)
    if device is None:
        device = await run_in_threadpool(state.registry.device_for_token, token)
    if device is None:
        raise HTTPException(401, "unknown or revoked device token",
                            headers={"WWW-Authenticate": "Bearer"})
    return device


async def require_admin(request: Request, state: StateDep) -> None:
    expected = state.settings.admin_secret()
    if expected is None:
        raise HTTPException(503, "admin endpoints are disabled: no admin token is configured")
    if not secrets.compare_digest(_bearer(request).encode(), expected.encode()):
        raise HTTPException(401, "wrong admin token", headers={"WWW-Authenticate": "Bearer"})


AdminDep = Depends(require_admin)
