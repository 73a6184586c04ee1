"""`smartwatch users import` and `smartwatch devices token` against the test stack's Postgres,
and the API accepting the token they print. Emails are never logged."""

from __future__ import annotations

import datetime as dt
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
    assert done.stdout.strip() == ("imported 2 user(s), 2 device owner(s); 0 handover(s) and "
                                   "0 move(s) added")
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


def test_a_handover_and_a_move_show_in_the_cli_and_the_api(api, tmp_path) -> None:
    tag = uuid.uuid4().hex[:8]
    watch, a, b = f"h-watch-{tag}", f"h-a-{tag}", f"h-b-{tag}"
    steps = [[{"user_id": a, "device_id": watch, "time_zone": "Europe/Berlin",
               "since": "2026-05-01T00:00:00Z"}],
             [{"user_id": b, "device_id": watch, "time_zone": "Asia/Tokyo",
               "since": "2026-05-11T12:00:00Z"}],
             [{"user_id": b, "device_id": watch, "time_zone": "America/New_York",
               "since": "2026-06-01T00:00:00Z"}],
             [{"user_id": b, "device_id": watch, "time_zone": "America/New_York"}]]  # no change
    said = []
    for n, entries in enumerate(steps):
        path = tmp_path / f"step-{n}.json"
        path.write_text(json.dumps(entries))
        done = _cli(api, "users", "import", str(path))
        assert done.returncode == 0, done.stderr
        said.append(done.stdout.strip().split("; ")[1])
    assert said == ["0 handover(s) and 0 move(s) added", "1 handover(s) and 0 move(s) added",
                    "0 handover(s) and 1 move(s) added", "0 handover(s) and 0 move(s) added"]

    owners = _cli(api, "devices", "owners", watch)
    assert owners.returncode == 0, owners.stderr
    assert [line.split()[0:2] for line in owners.stdout.splitlines()] == [
        ["(from", "the"], ["2026-05-11T12:00:00+00:00", b]]
    assert a in owners.stdout.splitlines()[0]
    zones = _cli(api, "users", "zones", b)
    first, second = zones.stdout.splitlines()
    assert first.startswith("(from the start)") and "Asia/Tokyo" in first
    assert second.split()[:2] == ["2026-06-01T00:00:00+00:00", "America/New_York"]
    missing = _cli(api, "devices", "owners", f"nobody-{tag}")
    assert missing.returncode == 1 and "has no owner" in missing.stderr

    admin = {"Authorization": f"Bearer {api['admin_token']}"}
    r = httpx.get(f"{api['url']}/v1/admin/devices/{watch}/owners", headers=admin, timeout=30)
    assert r.status_code == 200
    assert [(o["user_id"], dt.datetime.fromisoformat(o["since"])) for o in r.json()["owners"]] == [
        (a, dt.datetime(2026, 5, 1, tzinfo=dt.UTC)), (b, dt.datetime(2026, 5, 11, 12, tzinfo=dt.UTC))]
    r = httpx.get(f"{api['url']}/v1/admin/users/{b}/zones", headers=admin, timeout=30)
    assert [z["time_zone"] for z in r.json()["zones"]] == ["Asia/Tokyo", "America/New_York"]
