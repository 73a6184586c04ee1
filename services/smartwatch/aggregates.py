"""Reading the stored figures (the API's and the CLI's query), through the pool
(smartwatch.db.pool) the caller holds."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg2.extras

from smartwatch.db.pool import Pool
from smartwatch.periods import MEASURES, RUN_COLUMNS, SPECS


def query(pool: Pool, user_id: str, granularity: str, start: dt.date | None,
          end: dt.date | None) -> list[dict[str, Any]]:
    """The user's rows whose period starts in [start, end] (open ends when None), in order."""
    if granularity not in SPECS:
        raise ValueError(f"unknown granularity {granularity!r}")
    spec = SPECS[granularity]
    period = spec.period_column
    columns = ", ".join([*spec.keys, *MEASURES, *RUN_COLUMNS])
    sql = (f"SELECT {columns} FROM {spec.table} "
           f"WHERE user_id = %s AND {period} >= %s AND {period} <= %s ORDER BY {period}")
    with pool.connection() as conn, conn.cursor(
            cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute(sql, (user_id, start or dt.date(1, 1, 1), end or dt.date(9999, 12, 31)))
        return [dict(r) for r in cur.fetchall()]
