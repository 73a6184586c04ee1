"""Reading the stored figures (the API's and the CLI's query)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg2
import psycopg2.extras

PERIOD = {"daily": "local_date", "weekly": "week_start", "monthly": "month_start"}
KEYS = {"daily": "local_date", "weekly": "iso_year, iso_week, week_start",
        "monthly": "year, month, month_start"}
MEASURES = ("total_steps, hr_samples, hr_sum, avg_hr, min_hr, max_hr, sleep_hr_samples, "
            "sleep_hr_sum, avg_sleep_hr, readings, first_at, last_at, computed_at, run")


def query(dsn: str, user_id: str, granularity: str, start: dt.date | None,
          end: dt.date | None) -> list[dict[str, Any]]:
    """The user's rows whose period starts in [start, end] (open ends when None), in order."""
    if granularity not in PERIOD:
        raise ValueError(f"unknown granularity {granularity!r}")
    period = PERIOD[granularity]
    sql = (f"SELECT user_id, {KEYS[granularity]}, {MEASURES} FROM {granularity}_aggregates "
           f"WHERE user_id = %s AND {period} >= %s AND {period} <= %s ORDER BY {period}")
    with psycopg2.connect(dsn) as conn, conn.cursor(
            cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute(sql, (user_id, start or dt.date(1, 1, 1), end or dt.date(9999, 12, 31)))
        rows = [dict(r) for r in cur.fetchall()]
    conn.close()
    return rows
