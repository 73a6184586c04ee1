"""`smartwatch simulate --output`: the fleet written to a file, without an API or a stack; the
same seed gives the same file."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from smartwatch.cli import local, main
from smartwatch_dev.simulate import Fleet

pytestmark = pytest.mark.unit


def test_a_fleet_written_to_a_file_needs_no_api(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(local, "stack_status", lambda *a: pytest.fail("the stack was asked"))
    outs = []
    for run in range(2):
        out, truth = tmp_path / f"events{run}.ndjson", tmp_path / f"truth{run}.ndjson"
        assert main(["simulate", "--devices", "2", "--days", "1", "--cadence", "3600",
                     "--start", "2026-03-01", "--seed", "7", "--zones", "UTC, Asia/Tokyo",
                     "--output", str(out), "--ground-truth", str(truth)]) == 0
        outs.append(out.read_text())
    assert outs[0] == outs[1]
    events = [json.loads(line) for line in outs[0].splitlines()]
    assert len(events) == 2 * 24 and {e["device_id"] for e in events} == {
        "sim-watch-00000", "sim-watch-00001"}
    days = [json.loads(line) for line in truth.read_text().splitlines()]
    assert sum(d["readings"] for d in days) == 48
    assert {d["time_zone"] for d in days} == {"UTC", "Asia/Tokyo"}
    assert f"wrote 48 events to {out}" in capsys.readouterr().out


def test_the_fleet_starts_on_its_day_or_around_a_dst_change() -> None:
    assert Fleet(start=dt.datetime(2026, 3, 1)).first_instant() == dt.datetime(
        2026, 3, 1, tzinfo=dt.UTC)
    start = Fleet(start=dt.datetime(2026, 4, 10), days=4, zones=("Europe/Berlin",),
                  dst=True).first_instant()
    assert start == dt.datetime(2026, 3, 27, tzinfo=dt.UTC)  # two days before 29 March
    with pytest.raises(RuntimeError, match="changed offset"):
        Fleet(start=dt.datetime(2026, 4, 10), zones=("UTC",), dst=True).first_instant()
