"""Which Java local Spark jobs run on: the newest release Spark supports among the installed
ones, or the one named by SMARTWATCH_SPARK_JAVA_HOME."""

from pathlib import Path

import pytest

from smartwatch_dev import toolchain

pytestmark = pytest.mark.unit


def _jdk(root: Path, name: str, version: str) -> Path:
    home = root / name
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_text("")
    (home / "release").write_text(f'IMPLEMENTOR="x"\nJAVA_VERSION="{version}"\n')
    return home


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("SMARTWATCH_SPARK_JAVA_HOME", raising=False)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "")  # no java on PATH: only the folders given count
    return monkeypatch


@pytest.mark.parametrize(("text", "release"), [("17.0.15", 17), ("25.0.3", 25), ("21", 21),
                                               ("1.8.0_372", 8), ("11.0.2", 11)])
def test_release_of_a_jdk(tmp_path, text, release) -> None:
    assert toolchain.java_release(_jdk(tmp_path, "j", text)) == release


def test_a_folder_without_java_is_no_jdk(tmp_path) -> None:
    home = _jdk(tmp_path, "j", "25.0.3")
    (home / "bin" / "java").unlink()
    assert toolchain.java_release(home) is None
    assert toolchain.java_release(tmp_path / "missing") is None


def test_newest_supported_release_wins(tmp_path, clean_env) -> None:
    supported = [int(r) for r in toolchain.versions()["SPARK_JAVA_RELEASES"].split(",")]
    _jdk(tmp_path, "a-oldest", f"{min(supported)}.0.1")
    newest = _jdk(tmp_path, "b-newest", f"{max(supported)}.0.1")
    _jdk(tmp_path, "c-too-new", f"{max(supported) + 1}.0.1")  # Spark does not run on it
    _jdk(tmp_path, "d-too-old", "11.0.2")
    assert toolchain.spark_java_home((tmp_path,)) == newest


def test_java_home_counts_among_the_candidates(tmp_path, clean_env) -> None:
    supported = sorted(int(r) for r in toolchain.versions()["SPARK_JAVA_RELEASES"].split(","))
    old = _jdk(tmp_path / "elsewhere", "old", f"{supported[0]}.0.1")
    clean_env.setenv("JAVA_HOME", str(old))
    assert toolchain.spark_java_home((tmp_path / "none",)) == old
    newer = _jdk(tmp_path / "jvm", "newer", f"{supported[-1]}.0.1")
    assert toolchain.spark_java_home((tmp_path / "jvm",)) == newer


def test_nothing_supported_leaves_the_choice_to_spark(tmp_path, clean_env) -> None:
    _jdk(tmp_path, "old", "11.0.2")
    assert toolchain.spark_java_home((tmp_path,)) is None


def test_the_setting_overrides(tmp_path, clean_env) -> None:
    _jdk(tmp_path, "newest", "25.0.1")
    clean_env.setenv("SMARTWATCH_SPARK_JAVA_HOME", str(tmp_path / "mine"))
    assert toolchain.spark_java_home((tmp_path,)) == tmp_path / "mine"


def test_an_aot_cache_only_from_java_25_keyed_by_build(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SMARTWATCH_CACHE", str(tmp_path / "cache"))
    assert toolchain.spark_aot_cache(_jdk(tmp_path, "j21", "21.0.4")) is None
    assert toolchain.spark_aot_cache(None) is None
    j25 = _jdk(tmp_path, "j25", "25.0.3")
    with open(j25 / "release", "a") as out:
        out.write('JAVA_RUNTIME_VERSION="25.0.3+9-LTS"\n')
    spark = toolchain.versions()["SPARK_VERSION"]
    assert toolchain.spark_aot_cache(j25) == (
        tmp_path / "cache" / f"spark-aot-{spark}-java25.0.3+9-LTS" / "spark.aot")
    j26 = _jdk(tmp_path, "j26", "26")  # no runtime version: the feature version keys it
    assert toolchain.spark_aot_cache(j26) == (
        tmp_path / "cache" / f"spark-aot-{spark}-java26" / "spark.aot")
