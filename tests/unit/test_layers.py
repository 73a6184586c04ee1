"""What may import what (docs/architecture.md): runtime code never imports the dev tooling.

The runtime is what runs in a pod: the event model, settings, registry, API, database
migrations, the domain module, the Spark jobs and the operator. The dev tooling is the local
stack and the kind cluster, the set-up cache, the simulator, the demo and the JVM cache's
training (the package `smartwatch_dev`, which no image holds), the benchmarks and the tests. The CLI is the
entry layer of both: its local conveniences may reach the dev tooling, each inside the
command that needs it.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from smartwatch_dev.toolchain import REPO_ROOT

pytestmark = pytest.mark.unit

DEV_TOOLING = ("smartwatch_dev", "bench", "tests")
ENTRY = ("smartwatch.cli", "smartwatch.__main__")
PACKAGES = {"smartwatch": REPO_ROOT / "services" / "smartwatch",
            "smartwatch_jobs": REPO_ROOT / "jobs" / "smartwatch_jobs",
            "smartwatch_operator": REPO_ROOT / "operator" / "smartwatch_operator"}


def module_name(package: str, root: Path, path: Path) -> str:
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_modules() -> dict[str, Path]:
    found = {}
    for package, root in PACKAGES.items():
        for path in root.rglob("*.py"):
            name = module_name(package, root, path)
            if not name.startswith(DEV_TOOLING + ENTRY):
                found[name] = path
    return found


def imported(path: Path) -> set[str]:
    """Every module an import statement anywhere in the file names (also inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def is_dev(name: str) -> bool:
    return any(name == d or name.startswith(d + ".") for d in DEV_TOOLING)


def test_the_runtime_modules_are_found() -> None:
    modules = runtime_modules()
    for expected in ("smartwatch.events", "smartwatch.settings", "smartwatch.api.main",
                     "smartwatch_jobs.landing", "smartwatch_operator.handlers"):
        assert expected in modules
    assert not any(is_dev(m) for m in modules)


@pytest.mark.parametrize("module", sorted(runtime_modules()))
def test_a_runtime_module_imports_no_dev_tooling(module: str) -> None:
    bad = sorted(n for n in imported(runtime_modules()[module]) if is_dev(n))
    assert bad == [], f"{module} imports the dev tooling: {', '.join(bad)}"


def test_the_check_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from smartwatch_dev import toolchain\n"
                      "    import smartwatch_dev.stack.kube\n")
    assert {n for n in imported(sample) if is_dev(n)} == {
        "smartwatch_dev", "smartwatch_dev.toolchain", "smartwatch_dev.stack.kube"}


def test_what_a_pod_runs_loads_no_dev_tooling() -> None:
    """The pods' entry points, imported as a pod imports them, load no dev tooling module."""
    code = ("import sys\n"
            "import smartwatch.api.main, smartwatch.db.migrate, smartwatch_jobs.main\n"
            "import smartwatch_jobs.submit, smartwatch_operator.main\n"
            "from smartwatch.cli import build_parser\n"
            "build_parser().parse_args(['land', '--available-now'])\n"
            f"dev = {DEV_TOOLING!r}\n"
            "print(sorted(m for m in sys.modules if m.startswith(dev)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_the_jobs_import_nothing_of_the_cli() -> None:
    """A Spark driver starts from its own entry point (smartwatch_jobs.commands): no module of
    the jobs names the `smartwatch` CLI, and the driver's run of a job loads none of it."""
    jobs = {m: p for m, p in runtime_modules().items() if m.startswith("smartwatch_jobs")}
    assert "smartwatch_jobs.submit" in jobs
    bad = {m: sorted(n for n in imported(p) if n.startswith(ENTRY)) for m, p in jobs.items()}
    assert {m: names for m, names in bad.items() if names} == {}
    code = ("import sys\n"
            "from smartwatch_jobs import submit\n"
            "assert submit.main(['audit', '--from', '2026-01-02', '--to', '2026-01-01']) == 2\n"
            "print(sorted(m for m in sys.modules if m.startswith(('smartwatch.cli', 'pyspark'))))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "SMARTWATCH_POSTGRES_DSN": "", "SMARTWATCH_LAKE_URI": ""})
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_tests_share_helpers_by_public_names_only() -> None:
    """Helpers shared between test modules live in helper modules or fixtures under public
    names: no test file imports another's private (`_name`) helper."""
    private = []
    for path in sorted((REPO_ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests"):
                private += [f"{path.relative_to(REPO_ROOT)}: {node.module}.{a.name}"
                            for a in node.names if a.name.startswith("_")]
    assert private == []
