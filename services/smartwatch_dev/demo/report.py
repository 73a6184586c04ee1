"""The HTML report of `make demo`: the reconciliation line, daily steps and daily average sleep
heart rate per user (from daily_aggregates), the landing and aggregation runs, the aggregation
schedules and free notes.

The page is self-contained: one HTML file with a small inline style sheet and inline SVG charts
computed here, no JavaScript, no external resource and no network, so it opens from a file.
Every string from the data is escaped.
"""

from __future__ import annotations

import dataclasses
import datetime
import html
import math
import pathlib

# A fixed palette (Tableau 10), cycled; past ten users the dash pattern changes as well, so up to
# forty series stay distinguishable.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
           "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
DASHES = ("", "6 3", "2 3", "8 3 2 3")


@dataclasses.dataclass(frozen=True)
class DailyPoint:
    """One user's local day, from daily_aggregates."""

    user_id: str
    local_date: datetime.date
    steps: int
    avg_hr: float | None
    avg_sleep_hr: float | None


@dataclasses.dataclass(frozen=True)
class RunRow:
    """A landing or aggregation run."""

    name: str
    what: str  # e.g. "landing", "daily aggregation"
    detail: str  # e.g. "--dirty" or "2026-03-28..2026-03-28", or the error
    state: str  # e.g. COMPLETED, FAILED, RUNNING
    started: datetime.datetime | None  # aware
    finished: datetime.datetime | None  # aware

    @property
    def seconds(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return (self.finished - self.started).total_seconds()


@dataclasses.dataclass(frozen=True)
class ScheduleRow:
    """An AggregationSchedule and what it did."""

    name: str
    granularity: str
    schedule: str  # cron
    time_zone: str
    mode: str
    succeeded: int  # runs that succeeded
    failed: int
    last_successful_window: str | None
    conditions: str  # e.g. "Ready" or "Failing: ..."


@dataclasses.dataclass(frozen=True)
class Report:
    title: str
    generated_at: datetime.datetime
    reconciliation: str  # the one reconciliation line, shown at the top
    matched: bool  # whether it says everything matches (styled green or red)
    daily: list[DailyPoint]
    runs: list[RunRow]
    schedules: list[ScheduleRow]
    notes: list[str] = dataclasses.field(default_factory=list)  # free lines (e.g. the simulated range)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       margin: 24px auto; max-width: 1000px; padding: 0 16px; color: #222; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: 4px; }
h2 { font-size: 1.2em; margin-top: 28px; }
.generated { color: #666; font-size: 0.9em; margin-top: 0; }
.reconciliation { padding: 10px 14px; border-radius: 4px; font-weight: 600; }
.reconciliation.ok { background: #e6f4ea; color: #1e6b34; border: 1px solid #9ccfa9; }
.reconciliation.mismatch { background: #fbe9e7; color: #a12a1c; border: 1px solid #e5a59c; }
svg.chart { display: block; max-width: 100%; height: auto; }
svg.chart text { font-family: inherit; font-size: 12px; fill: #444; }
svg.chart .axis { stroke: #888; stroke-width: 1; }
svg.chart .grid { stroke: #e5e5e5; stroke-width: 1; }
.empty { color: #666; font-style: italic; }
table { border-collapse: collapse; width: 100%; font-size: 0.92em; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #e2e2e2; vertical-align: top; }
th { background: #f5f5f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td code { white-space: nowrap; }
.state-completed, .state-succeeded { color: #1e6b34; }
.state-failed { color: #a12a1c; font-weight: 600; }
.state-running, .state-submitted, .state-pending { color: #8a5a00; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
"""


# --- charts ---------------------------------------------------------------------------------------

def _nice_step(span: float, count: int) -> float:
    raw = span / max(count, 1)
    if raw <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def _ticks(lo: float, hi: float, from_zero: bool, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (from 0 when from_zero)."""
    if from_zero:
        lo = min(lo, 0.0)
    if hi <= lo:  # one value: centre it
        pad = abs(hi) * 0.05 or 1.0
        lo, hi = (lo if from_zero else lo - pad), hi + pad
    step = _nice_step(hi - lo, count)
    start = math.floor(lo / step) * step
    stop = math.ceil(hi / step) * step
    n = round((stop - start) / step)
    return [round(start + i * step, 10) for i in range(n + 1)]


def _fmt_tick(value: float, step: float) -> str:
    """The tick value with as many decimals as the step needs (2.5 -> one, 0.25 -> two)."""
    decimals = next((d for d in range(7) if abs(round(step, d) - step) < 1e-9 * max(1.0, step)), 6)
    return f"{value:,.{decimals}f}"


def _chart(kind: str, label: str, unit: str, daily: list[DailyPoint], from_zero: bool) -> str:
    if not daily:
        return f'<p class="empty" data-chart="{_e(kind)}">no daily figures</p>'

    def value(p: DailyPoint) -> float | None:
        return float(p.steps) if kind == "steps" else p.avg_sleep_hr

    users = sorted({p.user_id for p in daily})
    series: dict[str, list[tuple[datetime.date, float]]] = {u: [] for u in users}
    for p in sorted(daily, key=lambda p: (p.user_id, p.local_date)):
        v = value(p)
        if v is not None and math.isfinite(v):
            series[p.user_id].append((p.local_date, v))
    values = [v for pts in series.values() for _, v in pts]
    first = min(p.local_date for p in daily)
    last = max(p.local_date for p in daily)
    days = (last - first).days

    legend_rows = len(users)
    left, right, top, bottom = 80, 190, 16, 44
    plot_w = 660
    plot_h = max(240, legend_rows * 18 - 8)
    width, height = left + plot_w + right, top + plot_h + bottom

    def x(d: datetime.date) -> float:
        if days == 0:
            return left + plot_w / 2
        return left + (d - first).days / days * plot_w

    ticks = _ticks(min(values), max(values), from_zero) if values else [0.0, 1.0]
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    lo, hi = ticks[0], ticks[-1]

    def y(v: float) -> float:
        return top + plot_h - (v - lo) / (hi - lo) * plot_h

    out = [f'<svg class="chart" data-chart="{_e(kind)}" xmlns="http://www.w3.org/2000/svg" '
           f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{_e(label)}">',
           f"<title>{_e(label)}</title>"]
    # value ticks and grid
    for t in ticks:
        ty = y(t)
        out.append(f'<line class="grid" x1="{left}" y1="{ty:.1f}" x2="{left + plot_w}" y2="{ty:.1f}"/>')
        out.append(f'<text x="{left - 8}" y="{ty + 4:.1f}" text-anchor="end">{_e(_fmt_tick(t, step))}</text>')
    # date labels: at most ~8, evenly spaced whole days
    every = max(1, math.ceil((days + 1) / 8))
    for i in range(0, days + 1, every):
        d = first + datetime.timedelta(days=i)
        dx = x(d)
        out.append(f'<line class="axis" x1="{dx:.1f}" y1="{top + plot_h}" x2="{dx:.1f}" '
                   f'y2="{top + plot_h + 5}"/>')
        out.append(f'<text x="{dx:.1f}" y="{top + plot_h + 19}" text-anchor="middle">'
                   f"{_e(d.isoformat())}</text>")
    out.append(f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}"/>')
    out.append(f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
               f'y2="{top + plot_h}"/>')
    out.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle">local date</text>')
    out.append(f'<text x="14" y="{top + plot_h / 2:.1f}" text-anchor="middle" '
               f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">{_e(unit)}</text>')

    for i, user in enumerate(users):
        colour = PALETTE[i % len(PALETTE)]
        dash = DASHES[(i // len(PALETTE)) % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        pts = series[user]
        out.append(f'<g class="series" data-user="{_e(user)}">')
        # one polyline per run of consecutive days: a missing or None day breaks the line
        runs: list[list[tuple[datetime.date, float]]] = []
        for d, v in pts:
            if runs and (d - runs[-1][-1][0]).days == 1:
                runs[-1].append((d, v))
            else:
                runs.append([(d, v)])
        for run in runs:
            if len(run) > 1:
                coords = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in run)
                out.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" '
                           f'stroke-width="2.5"{dash_attr}/>')
        for d, v in pts:
            shown = f"{int(v):,} steps" if kind == "steps" else f"{v:.1f} bpm"
            out.append(f'<circle class="point" cx="{x(d):.1f}" cy="{y(v):.1f}" r="4" fill="{colour}">'
                       f"<title>{_e(user)}, {_e(d.isoformat())}: {_e(shown)}</title></circle>")
        out.append("</g>")

    # legend, right of the plot
    lx = left + plot_w + 20
    out.append('<g class="legend">')
    for i, user in enumerate(users):
        colour = PALETTE[i % len(PALETTE)]
        dash = DASHES[(i // len(PALETTE)) % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        ly = top + 8 + i * 18
        out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 24}" y2="{ly}" stroke="{colour}" '
                   f'stroke-width="2.5"{dash_attr}/>')
        out.append(f'<text x="{lx + 30}" y="{ly + 4}">{_e(user)}</text>')
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


# --- tables ---------------------------------------------------------------------------------------

def _utc_time(moment: datetime.datetime | None) -> str:
    if moment is None:
        return "\u2014"
    return moment.astimezone(datetime.UTC).strftime("%H:%M:%S") + " UTC"


def _state_class(state: str) -> str:
    return "state-" + "".join(c for c in state.lower() if c.isalnum() or c == "-")


def _runs_table(runs: list[RunRow]) -> str:
    head = ("<tr><th>name</th><th>what</th><th>detail</th><th>state</th>"
            "<th>started</th><th>seconds</th></tr>")
    if not runs:
        return f'<table class="runs">{head}<tr><td colspan="6" class="empty">no runs</td></tr></table>'
    rows = []
    for r in runs:
        secs = r.seconds
        rows.append(
            f"<tr><td>{_e(r.name)}</td><td>{_e(r.what)}</td><td>{_e(r.detail)}</td>"
            f'<td class="{_e(_state_class(r.state))}">{_e(r.state)}</td>'
            f"<td>{_e(_utc_time(r.started))}</td>"
            f'<td class="num">{_e(f"{secs:.1f}" if secs is not None else chr(0x2014))}</td></tr>')
    return f'<table class="runs">{head}{"".join(rows)}</table>'


def _schedules_table(schedules: list[ScheduleRow]) -> str:
    head = ("<tr><th>name</th><th>granularity</th><th>schedule</th><th>time zone</th><th>mode</th>"
            "<th>succeeded</th><th>failed</th><th>last successful window</th><th>conditions</th></tr>")
    if not schedules:
        return (f'<table class="schedules">{head}'
                '<tr><td colspan="9" class="empty">no schedules</td></tr></table>')
    rows = []
    for s in schedules:
        rows.append(
            f"<tr><td>{_e(s.name)}</td><td>{_e(s.granularity)}</td><td><code>{_e(s.schedule)}</code></td>"
            f"<td>{_e(s.time_zone)}</td><td>{_e(s.mode)}</td>"
            f'<td class="num">{_e(s.succeeded)}</td><td class="num">{_e(s.failed)}</td>'
            f"<td>{_e(s.last_successful_window or chr(0x2014))}</td><td>{_e(s.conditions)}</td></tr>")
    return f'<table class="schedules">{head}{"".join(rows)}</table>'


# --- the page -------------------------------------------------------------------------------------

def render(report: Report) -> str:
    """The whole HTML document."""
    generated = report.generated_at.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    status = "ok" if report.matched else "mismatch"
    notes = ("<ul class=\"notes\">" + "".join(f"<li>{_e(n)}</li>" for n in report.notes) + "</ul>"
             if report.notes else '<p class="empty">no notes</p>')
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(report.title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{_e(report.title)}</h1>",
        f'<p class="generated">generated {_e(generated)}</p>',
        f'<p class="reconciliation {status}">{_e(report.reconciliation)}</p>',
        "<h2>Daily steps per user</h2>",
        _chart("steps", "Daily steps per user", "steps", report.daily, from_zero=True),
        "<h2>Daily average sleep heart rate per user</h2>",
        _chart("sleep-hr", "Daily average sleep heart rate per user", "bpm", report.daily,
               from_zero=False),
        "<h2>Runs</h2>",
        _runs_table(report.runs),
        "<h2>Schedules</h2>",
        _schedules_table(report.schedules),
        "<h2>Notes</h2>",
        notes,
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def write(report: Report, path: pathlib.Path) -> pathlib.Path:
    """Writes render(report) to `path` (utf-8) and returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report), encoding="utf-8")
    return path
