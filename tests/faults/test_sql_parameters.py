"""SQL is only ever built with parameters: every statement the code runs is a constant, or
has identifiers (tables, columns, periods: from the code's own constants) put in by the
reviewed sites below, never a value. A new statement built another way fails this test until
it is reviewed and listed here."""

from __future__ import annotations

import ast

import pytest

from smartwatch_dev.toolchain import REPO_ROOT

pytestmark = pytest.mark.unit

CALLS = {"execute": 0, "executemany": 0, "execute_values": 1, "copy_expert": 0}
#: (file, source of what is put into the SQL text): each an identifier or a fixed list of
#: them chosen by the code, or a path of the demo's own lake, never a value from outside.
REVIEWED = {
    ("services/smartwatch/aggregates.py", "sql"),  # a constant per granularity
    ("services/smartwatch/db/migrate.py", "sql"),  # the migration files' text
    ("services/smartwatch_dev/stack/postgres.py", "sql"),  # the stack's own set-up statements
    ("services/smartwatch_dev/stack/postgres.py", "verb"),  # CREATE or ALTER
    ("services/smartwatch_dev/stack/postgres.py", "ROLE"),
    ("services/smartwatch_dev/stack/postgres.py", "DATABASE"),
    ("services/smartwatch_dev/demo/run.py", "lake"),  # the demo's lake folder, for DuckDB
    ("services/smartwatch_dev/demo/run.py", "period"),
    ("services/smartwatch_dev/demo/run.py", "', '.join(truth.COLUMNS)"),
    ("services/smartwatch_dev/demo/run.py", "g"),  # a granularity of truth.GRANULARITIES
    ("services/smartwatch/registry.py", "history.select"),  # constants of _HISTORIES
    ("services/smartwatch/registry.py", "history.insert"),
    ("services/smartwatch/dirty.py", "_DIRTY"),  # a constant
    ("jobs/smartwatch_jobs/aggregate/runs.py", "_RUN_ROW"),
    ("jobs/smartwatch_jobs/aggregate/runs.py", '_RUN_ROW + " FOR UPDATE"'),
    ("jobs/smartwatch_jobs/aggregate/store.py", "table"),
    ("jobs/smartwatch_jobs/aggregate/store.py", "period"),
    ("jobs/smartwatch_jobs/aggregate/store.py", "', '.join(columns)"),
    ("jobs/smartwatch_jobs/aggregate/store.py", "', '.join(f'{c}::{PG_TYPES[c]}' for c in columns)"),
    ("jobs/smartwatch_jobs/aggregate/store.py", "staging"),
    ("jobs/smartwatch_jobs/aggregate/store.py",  # COPY of the code's own column lists
     "_copy_sql(table, [*window.spec.keys, *MEASURES, *RUN_COLUMNS])"),
    ("jobs/smartwatch_jobs/aggregate/store.py", "year"),  # a partition of whole years
    ("jobs/smartwatch_jobs/aggregate/store.py", "year + 1"),
}


def _sites() -> set[tuple[str, str]]:
    found = set()
    for folder in ("services", "jobs", "operator"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            text = path.read_text()
            rel = str(path.relative_to(REPO_ROOT))
            for node in ast.walk(ast.parse(text)):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in CALLS and len(node.args) > CALLS[node.func.attr]):
                    continue
                sql = node.args[CALLS[node.func.attr]]
                if isinstance(sql, ast.Constant):
                    continue
                if isinstance(sql, ast.JoinedStr):
                    for part in sql.values:
                        if isinstance(part, ast.FormattedValue):
                            found.add((rel, ast.get_source_segment(text, part.value) or "?"))
                else:
                    found.add((rel, ast.get_source_segment(text, sql) or "?"))
    return found


def test_every_statement_built_from_code_is_a_reviewed_site() -> None:
    assert _sites() - REVIEWED == set()


def test_the_reviewed_sites_still_exist() -> None:
    assert REVIEWED - _sites() == set()  # a site that went: drop it from the list
