"""No secret is rendered into a ConfigMap or a literal env value: every chart case of
tests/k8s/chart.py (and one with a DSN given as a value) is rendered with `helm template`,
every secret value is taken from the Secrets it renders (generated passwords and tokens
included), and none of them may appear in any other object; an env variable whose name says
it is a secret takes its value from a Secret. The operator's ClusterRole grants exactly the
verbs docs/operator.md lists."""

from __future__ import annotations

import base64
import re

import pytest
import yaml

from smartwatch_dev.toolchain import REPO_ROOT
from tests.k8s.chart import CASES, render

pytestmark = pytest.mark.k8s

SENTINEL = "Sentinel-Password-5d41402abc4b2a76"
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|DSN|SECRET|ACCESS_KEY", re.I)
RENDERS = {**CASES, "dsn-value": ["--set", f"postgres.dsn=postgresql://u:{SENTINEL}@db:5432/sw"]}


def _secret_values(docs: list[dict]) -> set[str]:
    values = set()
    for doc in docs:
        if doc.get("kind") != "Secret":
            continue
        values.update(str(v) for v in (doc.get("stringData") or {}).values())
        values.update(base64.b64decode(v).decode(errors="replace")
                      for v in (doc.get("data") or {}).values())
    parts = set()
    for value in values:  # a DSN's password too, not only the whole DSN
        parts.add(value)
        parts.update(re.findall(r"://[^:/@]+:([^@]+)@", value))
    return {p for p in parts if len(p) >= 8}


def _envs(node, path=""):
    """Every env entry anywhere in an object (pod specs, templates, SparkApplications)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "env" and isinstance(value, list):
                for entry in value:
                    if isinstance(entry, dict) and "name" in entry:
                        yield f"{path}.env", entry
            yield from _envs(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _envs(item, f"{path}[{i}]")


@pytest.mark.parametrize("case", RENDERS)
def test_secrets_stay_in_secrets(case: str) -> None:
    docs = render(RENDERS[case])
    secrets = _secret_values(docs)
    if case == "dsn-value":
        assert SENTINEL in secrets
    for doc in docs:
        if doc.get("kind") == "Secret":
            continue
        text = yaml.safe_dump(doc)
        where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        for secret in secrets:
            assert secret not in text, f"a Secret's value is in {where} ({case})"
        for path, entry in _envs(doc):
            if SECRET_NAME.search(entry["name"]) and not entry["name"].endswith("_FILE"):
                assert "value" not in entry, f"{where}{path}: {entry['name']} is a literal ({case})"


def _documented_rules() -> set[tuple[str, str, str]]:
    text = (REPO_ROOT / "docs" / "operator.md").read_text()
    section = text.split("### Permissions", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    rules = set()
    for line in rows[2:]:
        group, resource, verbs = (cell.strip().strip("`") for cell in line.strip("|").split("|"))
        for verb in verbs.replace("`", "").split(","):
            rules.add(("" if group == "core" else group, resource, verb.strip()))
    return rules


def test_the_operators_role_grants_exactly_the_documented_verbs() -> None:
    rbac = [d for d in yaml.safe_load_all((REPO_ROOT / "manifests" / "operator" / "rbac.yaml")
                                          .read_text()) if d]
    role = next(d for d in rbac if d["kind"] == "ClusterRole")
    granted = {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
               for resource in rule["resources"] for verb in rule["verbs"]}
    assert granted == _documented_rules()
    chart = next(d for d in render([]) if d["kind"] == "ClusterRole"
                 and "operator" in d["metadata"]["name"])
    assert {(g, r, v) for rule in chart["rules"] for g in rule["apiGroups"]
            for r in rule["resources"] for v in rule["verbs"]} == granted
