"""The set-up cache's bookkeeping (smartwatch_dev.toolchain): one layout that build/setup.sh reads,
what it prunes, and nothing of a user's default caches."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from smartwatch_dev import toolchain

pytestmark = pytest.mark.unit

BUILD = toolchain.REPO_ROOT / "build"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SMARTWATCH_CACHE", str(tmp_path))
    return tmp_path


def _builds(cache: Path, names_by_age: list[str]) -> list[Path]:
    """Folders named `names_by_age`, oldest first (modification times a minute apart)."""
    made = []
    for age, name in enumerate(names_by_age):
        folder = cache / name
        folder.mkdir(parents=True)
        (folder / "node.tar").write_text(name)
        os.utime(folder, (1_700_000_000 + 60 * age,) * 2)
        made.append(folder)
    return made


def _kind_current(cache: Path) -> Path:
    current = Path(toolchain.kind_images()["dir"])
    assert current.parent == cache
    return current


@pytest.mark.parametrize("older", [0, 1, 2, 5])
def test_prune_keeps_the_current_build_and_the_newest_other(cache: Path, older: int) -> None:
    current = _kind_current(cache)
    others = _builds(cache, [f"kind-images-v1.0.{i}-old{i}" for i in range(older)])
    current.mkdir()
    os.utime(current, (1_600_000_000,) * 2)  # older than all: kept because it is current
    removed = toolchain.prune()
    expected_kept = {current, *others[-1:]}  # the newest other one, if any
    assert {p for p in cache.iterdir()} == expected_kept
    assert set(removed) == set(others[:-1])


def test_prune_with_no_build_at_all_removes_nothing(cache: Path) -> None:
    assert toolchain.prune() == []
    assert list(cache.iterdir()) == []


def test_prune_when_only_older_builds_exist_keeps_the_newest(cache: Path) -> None:
    # The current one is not built yet (set-up failed before it): the newest older one stays.
    others = _builds(cache, ["kind-images-v1.0.0-a", "kind-images-v1.0.1-b", "kind-images-v1.0.2-c"])
    toolchain.prune()
    assert sorted(cache.iterdir()) == [others[-1]]


def test_prune_keeps_python_environments_by_the_same_rule(cache: Path) -> None:
    current = toolchain.python_env_dir()
    assert current.parent == cache / "python"
    others = _builds(cache, ["python/aaaa", "python/bbbb", "python/cccc"])
    current.mkdir(parents=True)
    toolchain.prune()
    assert sorted((cache / "python").iterdir()) == sorted([current, others[-1]])


def test_older_builds_is_empty_for_none_and_one(tmp_path: Path) -> None:
    current = tmp_path / "current"
    assert toolchain.older_builds([], current) == []
    assert toolchain.older_builds([current], current) == []
    (only,) = _builds(tmp_path, ["x"])
    assert toolchain.older_builds([only, current], current) == []


def test_every_folder_is_inside_the_cache_never_a_users_default(cache: Path) -> None:
    layout = toolchain.layout()
    for name, value in layout.items():
        if name.endswith(("_DIR", "CACHE", "PATH", "REPO")) or name.startswith("GO"):
            assert Path(value).is_relative_to(cache), (name, value)
    assert layout["GOMODCACHE"] != layout["GOPATH"]
    assert toolchain.maven_repo() == cache / "m2"


def test_the_python_environment_is_keyed_by_the_lock_file_and_python(cache: Path) -> None:
    # The same key as `(cat uv.lock; echo $PYTHON_VERSION) | sha256sum | cut -c1-16`.
    lock = toolchain.REPO_ROOT / "uv.lock"
    script = f'(cat {lock}; echo {toolchain.versions()["PYTHON_VERSION"]}) | sha256sum | cut -c1-16'
    key = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    assert toolchain.python_env_dir() == cache / "python" / key


def test_layout_runs_on_the_standard_library_alone(cache: Path) -> None:
    # build/setup.sh reads the layout before any environment exists: `python3 -S` has no
    # site-packages at all, so a third-party import would fail here.
    proc = subprocess.run([sys.executable, "-S", "-m", "smartwatch_dev.toolchain", "layout"],
                          env={**os.environ, "PYTHONPATH": str(toolchain.REPO_ROOT / "services")},
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    printed = dict(line.split("=", 1) for line in proc.stdout.splitlines())
    assert printed == toolchain.layout()


def test_the_build_scripts_use_only_folders_the_layout_names() -> None:
    # Every *_DIR, GO* and cache variable that set-up and the image build read is one that
    # `toolchain layout` exports (or one the script sets itself), so no second description of
    # the cache hides in a shell script.
    names = set(toolchain.layout())
    for script in (BUILD / "setup.sh", BUILD / "go-tools.sh", BUILD / "kind" / "images.sh"):
        text = script.read_text()
        assigned = set(re.findall(r"\b([A-Z_]+)=", text))
        used = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*_DIR|GO[A-Z]+|MAVEN_REPO|SMARTWATCH_CACHE)\b", text))
        assert used - names - assigned == set(), script.name
        assert "go env GOMODCACHE" not in text and ".m2" not in text, script.name


def test_spark_operator_crds_name_both_plurals(cache: Path) -> None:
    folder = toolchain.tool_dir("SPARK_CRDS_DIR")
    with pytest.raises(toolchain.ToolMissing, match="make setup"):
        toolchain.spark_operator_crd("sparkconnects")
    folder.mkdir(parents=True)
    for plural in toolchain.SPARK_OPERATOR_CRDS:
        (folder / f"sparkoperator.k8s.io_{plural}.yaml").write_text("kind: CustomResourceDefinition\n")
    assert toolchain.spark_operator_crd("sparkconnects").parent == folder
    assert toolchain.spark_application_crd().name == "sparkoperator.k8s.io_sparkapplications.yaml"
