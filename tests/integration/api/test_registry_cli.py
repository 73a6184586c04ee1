"""`smartwatch users import` and `smartwatch devices token` against the test stack's Postgres,
and the API accepting the token they print. Emails are never logged."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import psycopg2
import pytest

pytestmark = pytest.mark.integration


def _cli(api, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smartwatch", *args, "--state-dir",
                           api["state_dir"]], capture_output=True, text=True, timeout=120)


def test_import_then_token_then_send(api, tmp_path) -> None:
    tag = uuid.uuid4().hex[:8]
    email = f"secret-{tag}@example.com"
    profiles = [{"user_id": f"cli-{tag}", "device_id": f"cli-watch-{tag}", "user_email": email,
                 "gender": "f", "age": 41, "time_zone": "Asia/Tokyo"},
                {"user_id": 90000 + int(tag[:4], 16), "device_id": 7000 + int(tag[:4], 16),
                 "user_email": f"other-{email}", "gender": "m", "age": 29}]
    path = tmp_path / "user_profiles.json"
    path.write_text(json.dumps(profiles))
    done = _cli(api, "users", "import", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported 2 user(s), 2 device owner(s)"
    with psycopg2.connect(api["dsn"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT u.user_id, u.time_zone, u.age, d.device_id FROM users u "
                    "JOIN devices d USING (user_id) WHERE u.user_id IN (%s, %s) ORDER BY 1",
                    (f"cli-{tag}", str(90000 + int(tag[:4], 16))))
        assert cur.fetchall() == sorted([
            (f"cli-{tag}", "Asia/Tokyo", 41, f"cli-watch-{tag}"),
            (str(90000 + int(tag[:4], 16)), "UTC", 29, str(7000 + int(tag[:4], 16)))])

    token = _cli(api, "devices", "token", f"cli-watch-{tag}")
    assert token.returncode == 0 and token.stdout.startswith("swd_")
    with psycopg2.connect(api["dsn"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM device_tokens WHERE token_sha256 = "
                    "sha256(convert_to(%s, 'UTF8'))", (token.stdout.strip(),))
        assert cur.fetchone() == (1,)  # only the hash is stored
    r = httpx.post(f"{api['url']}/v1/events", timeout=30,
                   headers={"Authorization": f"Bearer {token.stdout.strip()}"},
                   json=[{"device_id": f"cli-watch-{tag}", "steps": 3,
                          "measured_at": "2026-06-01 09:00:00"}])
    assert r.status_code == 200 and r.json()["accepted"] == 1

    logs = "".join(p.read_text(errors="replace") for p in Path(api["state_dir"]).rglob("*.log"))
    assert email not in logs and email not in done.stdout + done.stderr


def test_bad_import_names_each_entry_and_writes_nothing(api, tmp_path) -> None:
    tag = uuid.uuid4().hex[:8]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"user_id": f"ok-{tag}"},
                                {"user_id": f"bad-{tag}", "age": 400},
                                {"device_id": "x", "time_zone": "Nowhere/City"}]))
    done = _cli(api, "users", "import", str(path))
    assert done.returncode == 1
    assert "entry 1: age: Input should be less than or equal to 150" in done.stderr
    assert "entry 2: user_id: Field required" in done.stderr
    assert "entry 2: time_zone: unknown IANA time zone 'Nowhere/City'" in done.stderr
    with psycopg2.connect(api["dsn"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM users WHERE user_id = %s", (f"ok-{tag}",))
        assert cur.fetchone() == (0,)
