"""Where the pinned tools live: versions.env and the set-up cache (see build/setup.sh).

The same rules as build/setup.sh: the cache is SMARTWATCH_CACHE, by default
${XDG_CACHE_HOME:-~/.cache}/smartwatch, and each tool sits in a folder keyed by its version.
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


class ToolMissing(RuntimeError):
    """A pinned tool is not installed; the message says how to install it."""


@functools.cache
def versions() -> dict[str, str]:
    """The pins of versions.env as a dict."""
    path = REPO_ROOT / "versions.env"
    pins: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            pins[name.strip()] = value.strip()
    return pins


def cache_dir() -> Path:
    explicit = os.environ.get("SMARTWATCH_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "smartwatch"


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise ToolMissing(f"{what} not found at {path}: run `make setup`")
    return path


def kafka_libs() -> Path:
    return _need(cache_dir() / f"kafka-{versions()['KAFKA_VERSION']}" / "libs", "Kafka broker runtime")


def spark_jars() -> list[Path]:
    """Spark's Kafka connector and the Postgres JDBC driver, as local jar files."""
    v = versions()
    folder = cache_dir() / f"spark-jars-{v['SPARK_VERSION']}-pg{v['POSTGRES_JDBC_VERSION']}" / "libs"
    return sorted(_need(folder, "Spark Kafka connector jars").glob("*.jar"))


def kube_bin(name: str) -> Path:
    """kube-apiserver or kubectl of the pinned Kubernetes release."""
    folder = cache_dir() / f"k8s-{versions()['KUBERNETES_VERSION']}"
    return _need(folder / name, name)


def etcd_bin() -> Path:
    return _need(cache_dir() / f"etcd-{versions()['ETCD_VERSION']}" / "etcd", "etcd")


def helm_bin() -> Path:
    return _need(cache_dir() / f"helm-{versions()['HELM_VERSION']}" / "helm", "helm")


def kind_bin() -> Path:
    return _need(cache_dir() / f"kind-{versions()['KIND_VERSION']}" / "kind", "kind")


def java_bin() -> Path:
    home = os.environ.get("JAVA_HOME")
    found = Path(home) / "bin" / "java" if home else shutil.which("java")
    if not found or not Path(found).exists():
        raise ToolMissing("java not found (JAVA_HOME or PATH): run `make setup`")
    return Path(found)


def postgres_bin_dir() -> Path:
    """The folder holding initdb, pg_ctl and postgres of the pinned major version."""
    candidates = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    candidates.append(Path(f"/usr/lib/postgresql/{versions()['POSTGRES_MAJOR']}/bin"))
    for folder in candidates:
        if all((folder / exe).exists() for exe in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise ToolMissing("Postgres server binaries (initdb, postgres) not found: run `make setup`")
