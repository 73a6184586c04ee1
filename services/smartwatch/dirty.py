"""What waits for the aggregation's dirty runs, per granularity: the UTC dates that received
rows since they were last aggregated, and the devices whose owner or zone changed since the
last dirty run. Plain SQL on a psycopg2 connection: the aggregation job reads them, and the
operator counts them into each dirty schedule's status (no Spark needed)."""

from __future__ import annotations

import datetime as dt

#: The UTC dates that received rows since a granularity (the parameter) last aggregated them.
_DIRTY = """FROM dirty_dates d
            LEFT JOIN aggregation_clean c ON c.granularity = %s AND c.event_date = d.event_date
            WHERE c.clean_as_of IS NULL OR d.last_dirtied_at > c.clean_as_of"""


def dirty_utc_dates(conn, granularity: str) -> tuple[list[dt.date], dt.datetime]:
    """UTC dates that received rows since they were last aggregated at this granularity, and
    the snapshot time that marks them clean once the run succeeds."""
    with conn.cursor() as cur:
        cur.execute("SELECT now()")
        snapshot = cur.fetchone()[0]
        cur.execute(f"SELECT d.event_date {_DIRTY} ORDER BY 1", (granularity,))
        return [r[0] for r in cur.fetchall()], snapshot


def changed_devices(conn, granularity: str) -> dict[str, dt.date | None]:
    """Devices whose owner or owner's zone changed (registry_changes) after this granularity's
    last dirty run, each with the first UTC date the change reaches (None: all its dates, as
    for a device's first owner, who also holds what it measured before). A user's move
    reaches the devices that user ever held, from the move on."""
    with conn.cursor() as cur:
        cur.execute("""SELECT coalesce(c.device_id, o.device_id),
                              min(CASE WHEN c.effective_from = '-infinity' THEN NULL
                                       ELSE (c.effective_from AT TIME ZONE 'UTC')::date END),
                              bool_or(c.effective_from = '-infinity')
                       FROM registry_changes c
                       LEFT JOIN device_owners o ON c.device_id IS NULL AND o.user_id = c.user_id
                       WHERE c.recorded_at > coalesce(
                               (SELECT clean_as_of FROM aggregation_clean
                                WHERE granularity = %s AND event_date = '0001-01-01'),
                               '-infinity')
                         AND coalesce(c.device_id, o.device_id) IS NOT NULL
                       GROUP BY 1""", (granularity,))
        return {device: None if everything else first for device, first, everything in cur.fetchall()}


def count_dirty_dates(conn, granularity: str) -> int:
    """How many UTC dates wait for a dirty run of `granularity`."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) {_DIRTY}", (granularity,))
        return int(cur.fetchone()[0])
