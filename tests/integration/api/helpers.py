"""Shared helpers of the API tests."""

from __future__ import annotations

import uuid

import httpx


def admin(api: dict) -> httpx.Client:
    return httpx.Client(base_url=api["url"], timeout=30,
                        headers={"Authorization": f"Bearer {api['admin_token']}"})


def new_device(api: dict, *, owner_zone: str | None = None) -> tuple[str, str]:
    """A fresh device id (with an owner in `owner_zone`, or none) and a token for it."""
    device = f"w-{uuid.uuid4().hex[:10]}"
    with admin(api) as client:
        if owner_zone:
            r = client.post("/v1/admin/users/import", json=[{
                "user_id": f"u-{device}", "device_id": device, "user_email": "x@example.com",
                "time_zone": owner_zone}])
            assert r.status_code == 200, r.text
        r = client.post(f"/v1/admin/devices/{device}/token")
        assert r.status_code == 200, r.text
        return device, r.json()["token"]


def device_client(api: dict, token: str) -> httpx.Client:
    return httpx.Client(base_url=api["url"], timeout=30,
                        headers={"Authorization": f"Bearer {token}"})
