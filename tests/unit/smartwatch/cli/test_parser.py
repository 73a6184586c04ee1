"""The `smartwatch` command line: every line the docs, scripts, chart and operator use still
parses to the same command; every command shows an example; parsing imports nothing heavy."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from smartwatch.cli import build_parser, parse

pytestmark = pytest.mark.unit

# Command lines of README.md, docs/*.md, the Makefile, bench/, the chart, the
# operator's SparkApplications and the tests, with the handler each must reach.
IN_USE = [
    ("stack up", "cmd_up"),
    ("stack up --detach --state-dir S", "cmd_up"),
    ("stack up --detach --only postgres,kafka --state-dir S", "cmd_up"),
    ("stack down", "cmd_down"),
    ("stack down --state-dir S", "cmd_down"),
    ("stack status", "cmd_status"),
    ("stack status --json --only postgres,kafka --state-dir S", "cmd_status"),
    ("stack status --show-password", "cmd_status"),
    ("stack leftovers --state-dir .stack/test", "cmd_leftovers"),
    ("demo", "cmd_demo"),
    ("demo --users 5 --days 2 --keep-running --show-password --state-dir S", "cmd_demo"),
    ("demo --direct --report R", "cmd_demo"),
    ("demo check --state-dir S", "cmd_check"),
    ("spark-runner --state-dir S", "cmd_spark_runner"),
    ("spark-runner --kubeconfig K --concurrency 2", "cmd_spark_runner"),
    ("stack purge --state-dir S", "cmd_purge"),
    ("cluster up --state-dir S", "cmd_up"),
    ("cluster status --json --state-dir S", "cmd_status"),
    ("cluster status", "cmd_status"),
    ("cluster down --state-dir S", "cmd_down"),
    ("cluster leftovers --state-dir S", "cmd_leftovers"),
    ("api", "cmd_api"),
    ("api --host 127.0.0.1 --port 8001 --admin-token-file F --workers 2", "cmd_api"),
    ("api --port 8001 --state-dir S", "cmd_api"),
    ("db migrate", "cmd_migrate"),
    ("users import user_profiles.json --state-dir S", "cmd_import"),
    ("devices token watch-17 --state-dir S", "cmd_token"),
    ("devices owners watch-17 --state-dir S", "cmd_owners"),
    ("users zones user-7 --state-dir S", "cmd_zones"),
    ("land", "run:land"),
    ("land --available-now --state-dir S", "run:land"),
    ("land --state-dir S", "run:land"),
    ("aggregate --granularity daily --from 2026-01-01 --to 2026-01-31 --run-name N",
     "run:aggregate"),
    ("aggregate --granularity weekly --dirty --state-dir S", "run:aggregate"),
    ("aggregate --granularity monthly --dirty --run-name nightly", "run:aggregate"),
    ("compact --from 2026-01-01 --to 2026-01-02 --target-mib 128", "run:compact"),
    ("query sim-user-00001 --granularity daily --state-dir S", "cmd_query"),
    ("query U --granularity weekly --from 2026-01-01 --to 2026-02-01 --json", "cmd_query"),
    ("operator", "cmd_operator"),
    ("operator --kubeconfig K --namespace ns --liveness-port 1 --metrics-port 2 "
     "--log-format json", "cmd_operator"),
    ("operator --in-cluster --all-namespaces --peering p --log-format json --tick 1 "
     "--liveness-port 8080 --metrics-port 9090", "cmd_operator"),
    ("events docs", "cmd_docs"),
    ("events schema", "cmd_schema"),
    ("simulate --state-dir S --devices 20 --days 1 --cadence 60 --ground-truth F",
     "cmd_simulate"),
    ("simulate --devices 50 --days 3 --cadence 60 --dst --ground-truth truth.ndjson",
     "cmd_simulate"),
    ("simulate --replay data.json", "cmd_simulate"),
    ("simulate --shape legacy-b --speed 60", "cmd_simulate"),
    ("simulate --url http://127.0.0.1:8000 --admin-token T", "cmd_simulate"),
    ("simulate --state-dir S --devices 3 --days 1 --cadence 900 --seed 7 --start 2026-03-01 "
     "--output F", "cmd_simulate"),
    ("simulate --zones America/New_York,Asia/Tokyo --shape legacy-a --prefix p --batch 100 "
     "--no-auth --concurrency 4", "cmd_simulate"),
]


@pytest.mark.parametrize(("line", "handler"), IN_USE)
def test_the_command_lines_in_use_still_parse(line: str, handler: str) -> None:
    func = parse(line.split()).func
    # A Spark job's handler is `run` bound to the job's declaration (smartwatch.cli.jobs).
    name = getattr(func, "__name__", None) or f"{func.func.__name__}:{func.args[0].name}"
    assert name == handler


def test_the_operator_parses_its_own_options() -> None:
    from smartwatch.cli.operator_cmd import _parser

    args = parse(["operator", "--state-dir", "S", "-n", "a", "-n", "b", "--tick", "0.5"])
    args = _parser().parse_args(args.rest, namespace=args)
    assert (args.state_dir, args.namespace, args.tick, args.in_cluster) == ("S", ["a", "b"],
                                                                             0.5, False)


@pytest.mark.parametrize("line", [
    "stack up --json",            # --json is status's
    "stack status --detach",      # --detach is up's
    "stack leftovers --only kafka",
    "db migrate --state-dir S",   # db migrate never uses the local stack
    "aggregate --granularity hourly --dirty",
    "simulate --shape legacy-c",
    "land --bogus",
])
def test_options_belong_to_the_commands_they_apply_to(line: str, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        parse(line.split())
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        yield path, parser
    for group in groups:
        for name, sub in group.choices.items():
            yield from _commands(sub, (*path, name))


def test_every_command_shows_an_example() -> None:
    commands = list(_commands(build_parser()))
    assert len(commands) >= 20
    for path, parser in commands:
        text = parser.format_help() if path != ("operator",) else parser.epilog or ""
        assert "example" in text and f"smartwatch {path[0]}" in text, path


def test_parsing_a_job_command_imports_no_kopf_nor_httpx() -> None:
    """Parsing a job's line in the CLI imports the jobs' declarations only, not their code."""
    code = ("import sys\n"
            "from smartwatch.cli import parse\n"
            "parse(['land', '--available-now'])\n"
            "parse(['aggregate', '--granularity', 'daily', '--from', '2026-01-01', '--to',"
            " '2026-01-31', '--run-name', 'n'])\n"
            "heavy = ('kopf', 'httpx', 'uvicorn', 'pyspark', 'smartwatch_operator',"
            " 'smartwatch_jobs', 'smartwatch_dev.simulate', 'smartwatch_dev.stack')\n"
            "light = ('smartwatch_jobs', 'smartwatch_jobs.commands')\n"
            "print(sorted(m for m in sys.modules if m.startswith(heavy) and m not in light))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    assert done.stdout.strip() == "[]"


def test_the_top_level_help_lists_every_command_on_one_line(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # a terminal's usual width, whatever runs the test
    with pytest.raises(SystemExit):
        parse(["--help"])
    lines = capsys.readouterr().out.splitlines()
    first = lines.index("  COMMAND") + 1
    listed = lines[first:lines.index("", first)]
    names = next(a for a in build_parser()._actions
             if isinstance(a, argparse._SubParsersAction)).choices
    assert [line.split()[0] for line in listed] == list(names)  # no continuation lines
    for line in listed:
        assert len(line.split()) > 2, line  # a name and its help


def test_the_help_of_a_group_lists_its_sub_commands(capsys) -> None:
    with pytest.raises(SystemExit):
        parse(["stack", "--help"])
    out = capsys.readouterr().out
    for action in ("up", "down", "status", "leftovers", "purge"):
        assert f"\n    {action} " in out
    assert "smartwatch stack up --detach" in out
