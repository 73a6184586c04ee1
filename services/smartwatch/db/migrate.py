"""Schema migrations: numbered SQL files in `migrations/`, each applied once, in order, in its
own transaction, under an advisory lock so that concurrent starters do not race."""

from __future__ import annotations

from importlib import resources

import psycopg2

LOCK_ID = 0x5357_4D49  # "SWMI"


def available() -> list[tuple[str, str]]:
    """(name, sql) of every migration, in order."""
    folder = resources.files("smartwatch.db") / "migrations"
    files = sorted(f.name for f in folder.iterdir() if f.name.endswith(".sql"))
    return [(name.removesuffix(".sql"), (folder / name).read_text()) for name in files]


def migrate(dsn: str) -> list[str]:
    """Apply the migrations not applied yet; returns their names."""
    applied_now = []
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (LOCK_ID,))
            cur.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
                             name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())""")
        for name, sql in available():
            with conn, conn.cursor() as cur:
                cur.execute("SELECT 1 FROM schema_migrations WHERE name = %s", (name,))
                if cur.fetchone():
                    continue
                cur.execute(sql)
                cur.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
                applied_now.append(name)
    finally:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (LOCK_ID,))
        conn.close()
    return applied_now
