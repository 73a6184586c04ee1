"""The HTML report of `make demo`, rendered in headless Chromium: the screenshot shows the charts
in the users' colours, and the rendered DOM holds both charts with one series per user and one
point per figure (None skipped). Plus pure checks of render(): escaping, no daily figures."""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import signal
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from smartwatch_dev.demo import report as rp

pytestmark = pytest.mark.integration

UTC = datetime.UTC
DAYS = [datetime.date(2026, 3, 25) + datetime.timedelta(days=i) for i in range(4)]
# user -> per day (steps, avg_hr, avg_sleep_hr); u3 has no sleep figure on the third day
FIGURES = {
    "u1": [(8123, 72.4, 55.1), (10456, 75.0, 54.3), (6021, 70.2, 56.8), (12890, 78.9, 53.9)],
    "u2": [(4312, 68.0, 60.2), (5120, 69.5, 61.7), (7033, 71.1, 59.4), (3987, 66.3, 62.0)],
    "u3": [(15002, 81.2, 50.5), (13750, 79.8, 51.2), (14400, 80.4, None), (16120, 83.0, 49.8)],
}
RECONCILIATION = "reconciliation: 12 of 12 daily rows match the ground truth"


def _report() -> rp.Report:
    daily = [rp.DailyPoint(user, day, steps, hr, sleep)
             for user, rows in FIGURES.items() for day, (steps, hr, sleep) in zip(DAYS, rows, strict=True)]
    t0 = datetime.datetime(2026, 3, 29, 6, 0, 5, tzinfo=UTC)
    runs = [
        rp.RunRow("land-1", "landing", "--dirty", "COMPLETED", t0, t0 + datetime.timedelta(seconds=41.27)),
        rp.RunRow("daily-20260328", "daily aggregation", "2026-03-25..2026-03-28", "COMPLETED",
                  t0 + datetime.timedelta(minutes=1), t0 + datetime.timedelta(minutes=1, seconds=18.5)),
    ]
    schedules = [rp.ScheduleRow("daily", "daily", "15 2 * * *", "UTC", "dirty", 2, 0,
                                "2026-03-28", "Ready")]
    return rp.Report(title="smartwatch demo", generated_at=t0 + datetime.timedelta(minutes=3),
                     reconciliation=RECONCILIATION, matched=True, daily=daily, runs=runs,
                     schedules=schedules, notes=["simulated 2026-03-25..2026-03-28, 3 watches"])


def _expected_points(chart: str) -> dict[str, int]:
    index = 0 if chart == "steps" else 2
    return {u: sum(1 for row in rows if row[index] is not None) for u, rows in FIGURES.items()}


# --- Chromium ---------------------------------------------------------------------------------------

def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.skip("chromium is not installed (make setup installs Debian's chromium package)")
    return found


def _run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Chromium headless in its own process group, with its profile and home under tmp_path;
    whatever of that group is still there afterwards is killed."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_CACHE_HOME": str(home / ".cache")}
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--window-size=1200,1800", "--force-color-profile=srgb",
           f"--user-data-dir={tmp_path / 'profile'}", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=tmp_path, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"chromium did not finish in 60 s: {err[-2000:]}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # helpers of that run only (its own session)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


# --- a PNG decoder (8-bit RGB/RGBA, not interlaced), so no imaging library is needed ----------------

def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB triplets, 3 bytes a pixel)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, bytearray(), None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    assert header is not None, "no IHDR"
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unsupported PNG {header}"
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(bytes(idat))
    stride = width * bpp
    prev = bytearray(stride)
    rows = []
    for r in range(height):
        start = r * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                line[i] = (line[i] + _paeth(a, b, c)) & 0xFF
            else:
                assert kind == 0, f"bad filter {kind}"
        rows.append(bytes(line) if bpp == 3 else bytes(v for i, v in enumerate(line) if i % 4 != 3))
        prev = line
    return width, height, rows


def _hex(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def test_screenshot_shows_the_charts_in_the_users_colours(tmp_path: Path) -> None:
    html_file = rp.write(_report(), tmp_path / "report.html")
    png = tmp_path / "report.png"
    done = _run_chromium(tmp_path, f"--screenshot={png}", html_file.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    assert png.is_file() and png.stat().st_size > 0, done.stderr[-2000:]
    width, height, rows = _decode_png(png.read_bytes())
    assert (width, height) == (1200, 1800)
    # the charts sit in the upper part of the page, below the title and the reconciliation line
    area = [row[i:i + 3] for row in rows[:1100] for i in range(0, len(row), 3)]
    counts: dict[bytes, int] = {}
    for px in area:
        counts[px] = counts.get(px, 0) + 1
    background = max(counts, key=lambda k: counts[k])
    assert background == b"\xff\xff\xff"
    assert len(area) - counts[background] > 20_000, "the chart area is (nearly) blank"
    # each user's colour (the first three of the palette) paints many pixels
    seen = {}
    for colour in rp.PALETTE[:3]:
        want = _hex(colour)
        seen[colour] = sum(n for px, n in counts.items()
                           if max(abs(px[k] - want[k]) for k in range(3)) <= 24)
    assert all(n > 500 for n in seen.values()), seen
    distinct = {px for px, n in counts.items() if px != background and n > 200}
    assert len(distinct) >= 3, distinct


# --- the rendered DOM ---------------------------------------------------------------------------------

class _Charts(HTMLParser):
    """Per svg.chart: the points of each data-user series; and the reconciliation line's text."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: dict[str, dict[str, int]] = {}
        self.chart_count = 0
        self._stack: list[tuple[str, str | None, str | None]] = []  # (tag, chart, user)
        self._in_reconciliation = False
        self.reconciliation = ""

    def _context(self) -> tuple[str | None, str | None]:
        chart = next((c for _, c, _ in reversed(self._stack) if c), None)
        user = next((u for _, _, u in reversed(self._stack) if u), None)
        return chart, user

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "p" and "reconciliation" in classes:
            self._in_reconciliation = True
        if tag == "svg":
            chart = a.get("data-chart") if "chart" in classes else None
            if chart:
                self.chart_count += 1
                self.charts.setdefault(chart, {})
            self._stack.append(("svg", chart, None))
        elif tag == "g":
            user = a.get("data-user")
            chart, _ = self._context()
            if user is not None and chart:
                self.charts[chart].setdefault(user, 0)
            self._stack.append(("g", None, user))
        elif tag == "circle" and "point" in classes:
            chart, user = self._context()
            if chart and user is not None:
                self.charts[chart][user] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self._in_reconciliation = False
        if tag in ("svg", "g") and self._stack and self._stack[-1][0] == tag:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if self._in_reconciliation:
            self.reconciliation += data


def test_rendered_dom_has_both_charts_with_a_series_per_user(tmp_path: Path) -> None:
    html_file = rp.write(_report(), tmp_path / "report.html")
    done = _run_chromium(tmp_path, "--dump-dom", html_file.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    parsed = _Charts()
    parsed.feed(done.stdout)
    assert parsed.chart_count == 2, done.stdout[:2000]
    assert set(parsed.charts) == {"steps", "sleep-hr"}
    for chart, series in parsed.charts.items():
        assert series == _expected_points(chart), chart
    assert _expected_points("sleep-hr")["u3"] == 3  # the None was skipped
    assert parsed.reconciliation.strip() == RECONCILIATION


# --- render() without a browser ---------------------------------------------------------------------

def test_render_escapes_strings_and_says_when_there_are_no_daily_figures() -> None:
    base = _report()
    hostile = rp.Report(
        title="<i>t</i>", generated_at=base.generated_at, reconciliation="a & <b>", matched=False,
        daily=[rp.DailyPoint("<b>x</b>", DAYS[0], 100, None, 50.0)],
        runs=[rp.RunRow("<r>", "landing", "<err>", "FAILED", None, None)],
        schedules=[rp.ScheduleRow("<s>", "daily", "* * * * *", "UTC", "dirty", 0, 1, None, "Failing: <x>")],
        notes=["<note>"])
    page = rp.render(hostile)
    assert "<b>x</b>" not in page and 'data-user="&lt;b&gt;x&lt;/b&gt;"' in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    for raw in ("<i>t</i>", "<r>", "<err>", "<s>", "<x>", "<note>", "a & <b>"):
        assert raw not in page, raw
    assert 'class="reconciliation mismatch"' in page

    empty = rp.render(rp.Report(title="t", generated_at=base.generated_at, reconciliation="r",
                                matched=True, daily=[], runs=[], schedules=[]))
    assert empty.count("no daily figures") == 2
    assert "<svg" not in empty
