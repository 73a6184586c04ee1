"""Who may write and read what, and where secrets go, against the real API of the test stack
(uvicorn, Postgres, Kafka): tokens are kept only as hashes; a device token writes only its own
device's readings and reads only its owner's figures; the admin endpoints refuse device
tokens; and no seeded secret (the Postgres password, the admin token, a device token) is in
any log of the stack or in the normal output of `smartwatch stack status`."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from tests.integration.api.helpers import admin, device_client, new_device

pytestmark = pytest.mark.integration


def _event(device: str, n: int = 0) -> dict:
    return {"event_id": f"{device}-{n}", "device_id": device,
            "measured_at": "2026-11-02T10:00:00Z", "heart_rate_bpm": 60, "steps": 1,
            "sleep_state": "awake"}


def _database_text(dsn: str) -> str:
    """Every row of every table of the public schema, as text."""
    out = []
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        for (table,) in cur.fetchall():
            cur.execute(f'SELECT t::text FROM "{table}" t')  # a catalogued name, quoted
            out.extend(row[0] for row in cur.fetchall())
    return "\n".join(out)


def test_tokens_are_stored_only_as_their_hashes(api) -> None:
    device, token = new_device(api)
    with psycopg2.connect(api["dsn"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT token_sha256 FROM device_tokens WHERE device_id = %s", (device,))
        assert [bytes(r[0]) for r in cur.fetchall()] == [hashlib.sha256(token.encode()).digest()]
    assert token not in _database_text(api["dsn"])


def test_a_device_token_writes_only_its_own_device(api) -> None:
    mine, token = new_device(api)
    other, _ = new_device(api)
    with device_client(api, token) as client:
        r = client.post("/v1/events", json=[_event(other)])
        assert r.status_code == 403 and other in r.json()["detail"], r.text
        r = client.post("/v1/events", json=[_event(mine), _event(other, 1)])
        assert r.status_code == 403, r.text  # the whole batch, not a part of it
        assert client.post("/v1/events", json=[_event(mine)]).status_code == 200


def test_a_device_token_reads_only_its_owners_figures(api) -> None:
    mine, token = new_device(api, owner_zone="Europe/Berlin")
    other, _ = new_device(api, owner_zone="Asia/Tokyo")
    with device_client(api, token) as client:
        assert client.get(f"/v1/users/u-{mine}/aggregates/daily").status_code == 200
        r = client.get(f"/v1/users/u-{other}/aggregates/daily")
        assert r.status_code == 403 and f"u-{other}" in r.json()["detail"], r.text
    with admin(api) as client:
        assert client.get(f"/v1/users/u-{other}/aggregates/daily").status_code == 200


@pytest.mark.parametrize(("method", "path", "body"), [
    ("post", "/v1/admin/users/import", [{"user_id": "x", "time_zone": "UTC"}]),
    ("post", "/v1/admin/devices/{device}/token", None),
])
def test_the_admin_endpoints_refuse_device_tokens(api, method: str, path: str, body) -> None:
    device, token = new_device(api)
    with device_client(api, token) as client:
        r = client.request(method.upper(), path.format(device=device), json=body)
    assert r.status_code == 401, r.text
    assert "admin token" in r.json()["detail"]


def test_no_secret_is_in_a_log_or_the_status_output(api) -> None:
    _, token = new_device(api)
    with device_client(api, token) as client:  # a request with it, logged or not
        client.post("/v1/events", json=[{"broken": True}])
    password = api["dsn"].split(":")[2].split("@")[0]
    secrets = {"the Postgres password": password, "the admin token": api["admin_token"],
               "a device token": token}
    assert len(password) >= 16
    status = subprocess.run([sys.executable, "-m", "smartwatch", "stack", "status",
                             "--state-dir", api["state_dir"]], capture_output=True, text=True,
                            timeout=60)
    shown = status.stdout + status.stderr
    assert "postgres_dsn: postgresql://" in shown and "***" in shown
    logs = {p: p.read_text(errors="replace") for p in Path(api["state_dir"]).rglob("*.log")}
    assert logs, "the stack writes logs"
    for what, secret in secrets.items():
        assert secret not in shown, f"{what} in smartwatch stack status"
        for path, text in logs.items():
            assert secret not in text, f"{what} in {path}"
    revealed = subprocess.run([sys.executable, "-m", "smartwatch", "stack", "status",
                               "--show-password", "--state-dir", api["state_dir"]],
                              capture_output=True, text=True, timeout=60).stdout
    assert password in revealed  # only when asked
    assert json.loads(subprocess.run(
        [sys.executable, "-m", "smartwatch", "stack", "status", "--json", "--state-dir",
         api["state_dir"]], capture_output=True, text=True, timeout=60).stdout
    )["postgres_dsn"] == api["dsn"]  # whole for scripts
