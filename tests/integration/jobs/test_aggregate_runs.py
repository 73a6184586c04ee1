"""Named aggregation runs (run names, reruns, take-overs, dirty runs by name) and the
SparkApplications' entrypoint under spark-submit, on the aggregation world."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from smartwatch.periods import align
from tests.integration.jobs.aggregate_world import (
    stored_figures,
)

pytestmark = pytest.mark.integration


NAMED = ("2026-03-27", "2026-03-31")  # a daily window of the world with rows of every owner


def _run_row(dsn, run) -> dict | None:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("""SELECT granularity, window_from, window_to, started_at, finished_at,
                              rows_written, status, error FROM aggregation_runs WHERE run = %s""",
                    (run,))
        row = cur.fetchone()
        names = [d[0] for d in cur.description]
    return dict(zip(names, row, strict=True)) if row else None


def _runs_of_rows(dsn, table, period, start, end) -> dict[str, int]:
    """How many of the window's rows each run wrote."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT run, count(*) FROM {table} WHERE {period} BETWEEN %s AND %s "
                    "GROUP BY run", (start, end))
        return dict(cur.fetchall())


def _env(dsn, lake, tmp_path) -> dict[str, str]:
    import os

    # No pipeline setting from this process, but the set-up cache where it is (SMARTWATCH_CACHE
    # names the machine's tools, not a setting of the pipeline).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SMARTWATCH_", "PYSPARK_")) or k == "SMARTWATCH_CACHE"}
    return {**env, "SMARTWATCH_POSTGRES_DSN": dsn, "SMARTWATCH_LAKE_URI": f"file://{lake}",
            "SMARTWATCH_STATE_DIR": str(tmp_path / "no-stack")}


def test_named_run_through_the_entrypoint_and_a_rerun_under_its_name(world, postgres_dsn,
                                                                     tmp_path):
    name = f"named-{world['tag']}"
    argv = [sys.executable, "-m", "smartwatch", "aggregate", "--granularity", "daily", "--from",
            NAMED[0], "--to", NAMED[1], "--run-name", name]
    env = _env(postgres_dsn, world["lake"], tmp_path)
    before = stored_figures(postgres_dsn, world["tag"], "daily")
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(f"run {name}"), done.stdout
    row = _run_row(postgres_dsn, name)
    assert row is not None and row["status"] == "succeeded" and row["error"] is None
    assert (row["granularity"], str(row["window_from"]), str(row["window_to"])) == (
        "daily", *NAMED)
    # The window's rows all carry the name, as many as the run says it wrote; same figures.
    assert _runs_of_rows(postgres_dsn, "daily_aggregates", "local_date", *NAMED) == {
        name: row["rows_written"]}
    assert row["rows_written"] > 0
    assert stored_figures(postgres_dsn, world["tag"], "daily") == before
    # Settings came from the environment alone: no local stack folder was looked for.
    assert not (tmp_path / "no-stack").exists()

    # Again under the same name: refused in one line before Spark starts, nothing written.
    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 1
    assert again.stderr.splitlines() == [
        f"smartwatch aggregate: run {name} already succeeded (daily {NAMED[0]}..{NAMED[1]}, "
        f"finished {row['finished_at'].astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}): a name is used "
        "by one successful run; give another --run-name to recompute"], again.stderr
    assert _run_row(postgres_dsn, name) == row
    assert _runs_of_rows(postgres_dsn, "daily_aggregates", "local_date", *NAMED) == {
        name: row["rows_written"]}


@pytest.mark.parametrize("status", ["running", "failed"])
def test_a_rerun_takes_over_the_name_of_a_run_that_did_not_succeed(world, spark, postgres_dsn,
                                                                   status):
    """As when spark-operator submits the same SparkApplication again after its driver died:
    the earlier attempt left its row `running` (or `failed`) and wrote no rows."""
    from smartwatch_jobs import aggregate as agg

    name = f"again-{status}-{world['tag']}"
    earlier = dt.datetime(2026, 11, 27, 23, 0, tzinfo=dt.UTC)
    with psycopg2.connect(postgres_dsn) as conn, conn.cursor() as cur:
        cur.execute("""INSERT INTO aggregation_runs (run, granularity, window_from, window_to,
                         started_at, status, error) VALUES (%s, 'weekly', '2026-03-02',
                         '2026-03-08', %s, %s, %s)""",
                    (name, earlier, status, "driver pod lost" if status == "failed" else None))
    window = align("daily", *map(dt.date.fromisoformat, NAMED))
    result = agg.run_window(spark, f"file://{world['lake']}", postgres_dsn, window, name)
    assert result.run == name and result.replaced is not None
    assert result.replaced.startswith(f"{status} (weekly 2026-03-02..2026-03-08, ")
    row = _run_row(postgres_dsn, name)
    assert row["status"] == "succeeded" and row["error"] is None
    assert row["started_at"] > earlier and row["rows_written"] == result.rows > 0
    assert (row["granularity"], row["window_from"], row["window_to"]) == (
        "daily", window.start, window.end)
    assert _runs_of_rows(postgres_dsn, "daily_aggregates", "local_date", *NAMED) == {
        name: result.rows}


def test_an_attempt_whose_name_was_taken_over_while_it_ran_writes_nothing(world, spark,
                                                                          postgres_dsn,
                                                                          monkeypatch):
    from smartwatch_jobs import aggregate as agg
    from smartwatch_jobs.aggregate import job

    name = f"raced-{world['tag']}"
    window = align("daily", *map(dt.date.fromisoformat, NAMED))
    rows_before = _runs_of_rows(postgres_dsn, "daily_aggregates", "local_date", *NAMED)
    newer = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    load_owners = job.load_owners

    def owners_then_a_newer_attempt(spark_session, conn):
        out = load_owners(spark_session, conn)
        other = psycopg2.connect(postgres_dsn)  # the other driver claims the same name
        try:
            assert agg.claim_run(other, name, window, newer) is not None
        finally:
            other.close()
        return out

    monkeypatch.setattr(job, "load_owners", owners_then_a_newer_attempt)
    with pytest.raises(agg.RunConflict, match="taken over by a newer attempt"):
        agg.run_window(spark, f"file://{world['lake']}", postgres_dsn, window, name)
    assert _runs_of_rows(postgres_dsn, "daily_aggregates", "local_date", *NAMED) == rows_before
    row = _run_row(postgres_dsn, name)  # the newer attempt's, untouched by the older one
    assert (row["status"], row["started_at"], row["error"]) == ("running", newer, None)


def test_a_named_dirty_run_names_each_window_and_is_not_repeated(world, spark, postgres_dsn):
    from smartwatch_jobs import aggregate as agg

    lake = f"file://{world['lake']}"
    name = f"dirty-{world['tag']}"
    agg.run_dirty(spark, lake, postgres_dsn, "weekly")  # start clean

    def dirty(*dates):
        with psycopg2.connect(postgres_dsn) as conn, conn.cursor() as cur:
            for d in dates:
                cur.execute("""INSERT INTO dirty_dates (event_date, rows) VALUES (%s, 1)
                               ON CONFLICT (event_date) DO UPDATE
                               SET last_dirtied_at = clock_timestamp()""", (d,))

    dirty("2026-03-29", "2024-02-29")
    results = agg.run_dirty(spark, lake, postgres_dsn, "weekly", name)
    # Two windows of whole ISO weeks, each its own run, named after its Monday.
    assert [(r.window.start, r.run) for r in results] == [
        (dt.date(2024, 2, 26), f"{name}-20240226"), (dt.date(2026, 3, 23), f"{name}-20260323")]
    for r in results:
        row = _run_row(postgres_dsn, r.run)
        assert (row["status"], row["granularity"], row["window_from"], row["window_to"]) == (
            "succeeded", "weekly", r.window.start, r.window.end)
        assert _runs_of_rows(postgres_dsn, "weekly_aggregates", "week_start", r.window.start,
                             r.window.end) == {r.run: r.rows}
    rows = {r.run: _run_row(postgres_dsn, r.run) for r in results}

    # The same name again (new data in one of the weeks): refused before any window is
    # written; the dates stay dirty for the next run.
    dirty("2026-03-29")
    with pytest.raises(agg.RunConflict, match=f"run {name}-20260323 already succeeded"):
        agg.run_dirty(spark, lake, postgres_dsn, "weekly", name)
    assert {r.run: _run_row(postgres_dsn, r.run) for r in results} == rows
    with psycopg2.connect(postgres_dsn) as conn:
        assert dt.date(2026, 3, 29) in agg.dirty_utc_dates(conn, "weekly")[0]
    later = agg.run_dirty(spark, lake, postgres_dsn, "weekly", f"{name}-b")
    assert [r.run for r in later] == [f"{name}-b-20260323"]


def test_submit_script_under_spark_submit(world, postgres_dsn, tmp_path):
    """submit.py as the SparkApplication's driver runs it: spark-submit gives master and conf,
    the environment gives the settings; neither the settings' master nor the set-up cache's
    jars are used (both point nowhere here)."""
    import pyspark

    spark_submit = f"{pyspark.__path__[0]}/bin/spark-submit"
    name = f"submitted-{world['tag']}"
    env = {**_env(postgres_dsn, world["lake"], tmp_path), "PYSPARK_PYTHON": sys.executable,
           "PYSPARK_DRIVER_PYTHON": sys.executable, "SMARTWATCH_SPARK_MASTER": "nowhere://x",
           "SMARTWATCH_CACHE": str(tmp_path / "empty-cache")}
    loopback = ["--conf", "spark.driver.host=127.0.0.1", "--conf",
                "spark.driver.bindAddress=127.0.0.1"]
    done = subprocess.run([spark_submit, "--master", "local[2]", *loopback,
                           str(toolchain_submit()), "aggregate", "--granularity", "monthly",
                           "--from", "2024-02-01", "--to", "2024-02-29", "--run-name", name],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"run {name}" in done.stdout
    row = _run_row(postgres_dsn, name)
    assert row["status"] == "succeeded" and row["rows_written"] > 0

    # What the session took from spark-submit, and what it added.
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import json, sys\n"
        f"sys.path[:0] = {[str(toolchain_submit().parents[2] / d) for d in ('services', 'jobs')]!r}\n"
        "from smartwatch.settings import Settings\n"
        "from smartwatch_jobs.spark import session\n"
        "s = session('smartwatch-probe', Settings(), 4)\n"
        "c = s.sparkContext.getConf()\n"
        "print(json.dumps({'master': s.sparkContext.master, 'app': c.get('spark.app.name'),\n"
        "                  'jars': c.get('spark.jars'),\n"
        "                  'shuffle': s.conf.get('spark.sql.shuffle.partitions'),\n"
        "                  'zone': s.conf.get('spark.sql.session.timeZone'),\n"
        "                  'ts': s.conf.get('spark.sql.parquet.outputTimestampType')}))\n"
        "s.stop()\n")
    jar = sorted(Path(pyspark.__path__[0], "jars").glob("*.jar"))[0]
    done = subprocess.run([spark_submit, "--master", "local[1]", "--name", "from-submit",
                           "--jars", str(jar), *loopback,
                           "--conf", "spark.sql.shuffle.partitions=3",
                           "--conf", "spark.sql.session.timeZone=America/New_York", str(probe)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"master": "local[1]", "app": "from-submit", "jars": f"file://{jar}",
                    "shuffle": "3", "zone": "UTC", "ts": "TIMESTAMP_MICROS"}


def toolchain_submit():
    from smartwatch_dev.toolchain import REPO_ROOT

    return REPO_ROOT / "jobs" / "smartwatch_jobs" / "submit.py"


def _all_rows(dsn) -> dict[str, list[tuple]]:
    """Every row of the three aggregate tables, in a stable order."""
    out = {}
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        for table in ("daily_aggregates", "weekly_aggregates", "monthly_aggregates"):
            cur.execute(f"SELECT * FROM {table}")
            out[table] = sorted(cur.fetchall(), key=repr)
    return out


@pytest.mark.parametrize("kind", ["does not exist", "not a lake", "a file"])
def test_a_lake_uri_that_names_no_lake_exits_1_naming_it_and_changes_no_row(
        world, postgres_dsn, tmp_path, kind):
    """A typo in the lake URI must not replace a window's figures with nothing: the run
    fails before it writes, in one line naming the URI, and its run record says why."""
    wrong = {"does not exist": tmp_path / "lake-typo",
             "not a lake": tmp_path / "some-folder",
             "a file": tmp_path / "a-file"}[kind]
    if kind == "not a lake":
        wrong.mkdir()
        (wrong / "notes.txt").write_text("not readings\n")
    elif kind == "a file":
        wrong.write_text("not a folder\n")
    name = f"wrong-lake-{kind.replace(' ', '-')}-{world['tag']}"
    before = _all_rows(postgres_dsn)
    assert before["daily_aggregates"], "the world has figures to lose"
    argv = [sys.executable, "-m", "smartwatch", "aggregate", "--granularity", "daily", "--from",
            NAMED[0], "--to", NAMED[1], "--run-name", name]
    done = subprocess.run(argv, env=_env(postgres_dsn, wrong, tmp_path), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 1, (done.stdout, done.stderr[-3000:])
    ours = [line for line in done.stderr.splitlines() if line.startswith("smartwatch aggregate:")]
    assert len(ours) == 1 and f"file://{wrong}" in ours[0], done.stderr[-3000:]
    assert {"does not exist": "does not exist", "not a lake": "is not a lake of this project",
            "a file": "is not a lake of this project"}[kind] in ours[0]
    assert _all_rows(postgres_dsn) == before
    row = _run_row(postgres_dsn, name)
    assert row is not None and row["status"] == "failed" and f"file://{wrong}" in row["error"]


def test_a_lake_without_readings_in_the_window_replaces_it_with_nothing(world, postgres_dsn,
                                                                        spark, tmp_path):
    """The marker makes an empty lake a lake: a window it has no readings for is emptied, as
    the lake says (here a window of the world's users with no figures anyway)."""
    from smartwatch_jobs import aggregate as agg
    from smartwatch_jobs.lakeroot import MARKER, ensure_marker

    empty = tmp_path / "empty-lake"
    ensure_marker(spark, f"file://{empty}")
    assert (empty / MARKER).read_text().startswith('{"kind": "smartwatch-lake"')
    before = _all_rows(postgres_dsn)
    result = agg.run_window(spark, f"file://{empty}", postgres_dsn,
                            align("daily", dt.date(2019, 6, 1), dt.date(2019, 6, 3)))
    assert result.rows == 0
    assert _all_rows(postgres_dsn) == before
