"""`smartwatch aggregate --run-name`: the name's checks, the names of a dirty run's windows,
and what an entrypoint in a cluster needs (pure logic: no Spark, no Postgres)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest

from smartwatch.periods import Window
from smartwatch.settings import Settings
from smartwatch_dev.toolchain import REPO_ROOT
from smartwatch_jobs.aggregate import (
    RUN_NAME_MAX,
    RunNameError,
    align,
    check_run_name,
    merge_windows,
    window_run_name,
)

pytestmark = pytest.mark.unit
D = dt.date


@pytest.mark.parametrize("name", ["x", "nightly-s20260301", "a" * RUN_NAME_MAX, "Ü/ö_1.2:3",
                                  "smartwatch-daily-s20260101-r2"])
def test_good_names_pass(name) -> None:
    assert check_run_name(name) == name


@pytest.mark.parametrize(("name", "message"), [
    ("", "must have 1 to 200 characters, not 0"),
    ("a" * (RUN_NAME_MAX + 1), "must have 1 to 200 characters, not 201"),
    ("a b", "contains ' '"),
    ("a\tb", r"contains '\t'"),
    ("a\nb", r"contains '\n'"),
    ("nbsp\u00a0", r"contains '\xa0'"),
    ("bell\x07", r"contains '\x07'"),
    ("zero\u200bwidth", r"contains '\u200b'"),
])
def test_bad_names_are_refused_in_one_line(name, message) -> None:
    with pytest.raises(RunNameError) as info:
        check_run_name(name)
    assert message in str(info.value)
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


def test_dirty_windows_are_named_after_their_first_day() -> None:
    assert window_run_name("nightly", Window("daily", D(2026, 3, 8), D(2026, 3, 10))) == (
        "nightly-20260308")
    # Weekly windows start on Mondays, monthly ones on the 1st: the names follow.
    weeks = merge_windows("weekly", [D(2021, 1, 1), D(2026, 3, 11)])
    assert [window_run_name("w", w) for w in weeks] == ["w-20201228", "w-20260309"]
    assert window_run_name("m", align("monthly", D(2024, 2, 29), D(2024, 2, 29))) == "m-20240201"


def test_one_dirty_run_never_names_two_windows_alike() -> None:
    days = [D(2026, 1, 1) + dt.timedelta(days=k) for k in range(0, 400, 3)]
    for granularity in ("daily", "weekly", "monthly"):
        windows = merge_windows(granularity, days[::7] + days[1::11])
        names = [window_run_name("n", w) for w in windows]
        assert len(set(names)) == len(names)


def test_a_bad_name_exits_2_in_one_line_before_anything_starts(capsys) -> None:
    from smartwatch_jobs.main import aggregate

    # No Postgres or lake is given: the name is checked first.
    assert aggregate(Settings(postgres_dsn=None, lake_uri=None), "daily", D(2026, 1, 1),
                     D(2026, 1, 2), False, "two words") == 2
    err = capsys.readouterr().err
    assert err.splitlines() == ["smartwatch aggregate: --run-name 'two words' contains ' ': "
                                "give printable characters without whitespace"]
    # --dirty checks the name as well.
    assert aggregate(Settings(postgres_dsn=None, lake_uri=None), "daily", None, None, True,
                     "") == 2
    assert "must have 1 to 200 characters" in capsys.readouterr().err


@pytest.mark.parametrize(("env", "expected"), [
    ({}, False),
    ({"PYSPARK_GATEWAY_PORT": "40123", "PYSPARK_GATEWAY_SECRET": "s"}, True),
    ({"SPARK_ENV_LOADED": "1"}, True),
])
def test_spark_submit_is_recognised(monkeypatch, env, expected) -> None:
    from pyspark import SparkContext

    from smartwatch_jobs import spark

    for name in ("PYSPARK_GATEWAY_PORT", "PYSPARK_GATEWAY_SECRET", "SPARK_ENV_LOADED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(SparkContext, "_active_spark_context", None)
    assert spark.submitted() is expected


SUBMIT = REPO_ROOT / "jobs" / "smartwatch_jobs" / "submit.py"


@pytest.mark.parametrize(("args", "line"), [
    (["--from", "2026-01-02", "--to", "2026-01-01", "--run-name", "x"],
     "smartwatch aggregate: --from 2026-01-02 is after --to 2026-01-01"),
    (["--from", "2026-01-01", "--to", "2026-01-02", "--run-name", "bad name"],
     "smartwatch aggregate: --run-name 'bad name' contains ' ': give printable characters "
     "without whitespace"),
])
def test_submit_script_exits_2_in_one_line_without_spark(tmp_path, args, line) -> None:
    """submit.py as spark-submit runs it: a script (its own folder first on sys.path), from
    another folder, settings only from the environment, no local stack."""
    # No pipeline setting from this process, but the set-up cache where it is (SMARTWATCH_CACHE
    # names the machine's tools, not a setting of the pipeline).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SMARTWATCH_", "PYSPARK_")) or k == "SMARTWATCH_CACHE"}
    env |= {"SMARTWATCH_POSTGRES_DSN": "postgresql://u:p@127.0.0.1:1/none",
            "SMARTWATCH_LAKE_URI": f"file://{tmp_path / 'lake'}",
            "SMARTWATCH_STATE_DIR": str(tmp_path / "no-stack")}
    done = subprocess.run([sys.executable, str(SUBMIT), "aggregate", "--granularity", "daily",
                           *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert (done.returncode, done.stderr.splitlines(), done.stdout) == (2, [line], "")
    assert not (tmp_path / "no-stack").exists()


def test_submit_script_puts_the_checkout_first_and_drops_its_own_folder() -> None:
    probe = ("import runpy, sys; sys.argv = sys.argv[1:]; "
             "g = runpy.run_path(sys.argv[0]); g['_paths'](); import smartwatch, smartwatch_jobs; "
             "print(sys.path[0]); print(smartwatch.__file__); "
             "print(any(p.endswith('smartwatch_jobs') for p in sys.path))")
    done = subprocess.run([sys.executable, "-c", probe, str(SUBMIT)], capture_output=True,
                          text=True, timeout=120, cwd=SUBMIT.parent)
    assert done.returncode == 0, done.stderr
    first, module, own_folder = done.stdout.split()
    assert first == str(REPO_ROOT / "services")
    assert module == str(REPO_ROOT / "services" / "smartwatch" / "__init__.py")
    assert own_folder == "False"
