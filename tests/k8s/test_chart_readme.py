"""The chart's README.md is helm-docs' rendering of values.yaml and README.md.gotmpl: every
value carries a `# --` comment (or sits inside a documented object or list), the README lists
exactly the documented values, and helm-docs (the pinned HELM_DOCS_VERSION, built by
`make setup` into the tool cache) regenerates the README unchanged."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from smartwatch_dev.toolchain import REPO_ROOT, helm_docs_bin
from tests.k8s.chart import CHART

pytestmark = pytest.mark.helm

README = CHART / "README.md"
ROW = re.compile(r"^\| (\S+) \| (\w+) \| .* \|$")


def _key(prefix: str, key: str) -> str:
    if "." in key or " " in key:
        key = f'"{key}"'
    return f"{prefix}.{key}" if prefix else key


def _values() -> tuple[set[str], list[str]]:
    """The keys helm-docs documents (those with a `# --` comment right above them), and the
    values that have no comment and no documented ancestor."""
    lines = (CHART / "values.yaml").read_text().splitlines()

    def commented(node: yaml.Node) -> bool:
        i = node.start_mark.line - 1
        while i >= 0 and lines[i].strip().startswith("#"):
            if lines[i].strip().startswith("# --"):
                return True
            i -= 1
        return False

    documented: set[str] = set()
    missing: list[str] = []

    def walk(path: str, key: yaml.Node | None, node: yaml.Node, covered: bool) -> None:
        here = key is not None and isinstance(key, yaml.ScalarNode) and commented(key)
        if here:
            documented.add(path)
        covered = covered or here
        if isinstance(node, yaml.MappingNode) and node.value:
            for k, v in node.value:
                walk(_key(path, k.value), k, v, covered)
        elif isinstance(node, yaml.SequenceNode) and node.value:
            if not covered:
                missing.append(path)
        elif not covered:
            missing.append(path)

    walk("", None, yaml.compose((CHART / "values.yaml").read_text()), False)
    return documented, missing


def test_every_value_has_a_helm_docs_comment() -> None:
    _, missing = _values()
    assert not missing, f"values without a `# --` comment: {missing}"


def test_no_description_breaks_helm_docs() -> None:
    """helm-docs reads `# text -- text` as an old-style `# key -- description` comment (and
    then drops the description); a `|` would split the table cell."""
    for number, line in enumerate((CHART / "values.yaml").read_text().splitlines(), 1):
        text = line.strip()
        if not text.startswith("#"):
            continue
        body = re.sub(r"^# (--|@default --) ", "", text)
        assert not re.search(r"\s--(\s|$)", body), f"values.yaml:{number}: {line}"
        assert "|" not in text, f"values.yaml:{number}: {line}"


def test_the_readme_lists_every_documented_value() -> None:
    documented, _ = _values()
    rows = [m.group(1) for line in README.read_text().splitlines() if (m := ROW.match(line))]
    rows = [row for row in rows if row not in ("Key", "mode")]
    assert rows == sorted(rows), "helm-docs sorts the values"
    assert set(rows) == documented, (
        f"README.md is stale: regenerate it with helm-docs (missing {sorted(documented - set(rows))}, "
        f"gone {sorted(set(rows) - documented)})")


def test_the_readme_is_what_helm_docs_generates() -> None:
    binary = helm_docs_bin()  # make setup builds it; ToolMissing says so when it did not
    command = [str(binary), "--chart-search-root", "charts", "--dry-run", "--log-level", "warning"]
    proc = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == README.read_text(), (
        "charts/smartwatch/README.md is stale: run `helm-docs --chart-search-root charts` from the "
        "repository root")
