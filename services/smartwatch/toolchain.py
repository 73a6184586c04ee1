"""Where the pinned tools live: versions.env and the set-up cache (see build/setup.sh).

The same rules as build/setup.sh: the cache is SMARTWATCH_CACHE, by default
${XDG_CACHE_HOME:-~/.cache}/smartwatch, and each tool sits in a folder keyed by its version.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shlex
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


def skaffold_bin() -> Path:
    return _need(cache_dir() / f"skaffold-{versions()['SKAFFOLD_VERSION']}" / "skaffold",
                 "skaffold")


def spark_application_crd() -> Path:
    """spark-operator's SparkApplication CRD (make setup copies it from its Go module), which
    the local stack's kube-apiserver gets for the local SparkApplication runner."""
    folder = cache_dir() / f"spark-operator-crds-{versions()['SPARK_OPERATOR_VERSION']}"
    return _need(folder / "sparkoperator.k8s.io_sparkapplications.yaml", "the SparkApplication CRD")


def java_bin() -> Path:
    home = os.environ.get("JAVA_HOME")
    found = Path(home) / "bin" / "java" if home else shutil.which("java")
    if not found or not Path(found).exists():
        raise ToolMissing("java not found (JAVA_HOME or PATH): run `make setup`")
    return Path(found)


# Where Debian's packages and vendors' JDK packages install JDKs, one folder each.
JVM_ROOT = Path("/usr/lib/jvm")


def _release_fields(home: Path) -> dict[str, str]:
    """The KEY="value" lines of the `release` file of the JDK or JRE in `home` ({} if none)."""
    try:
        text = (home / "release").read_text()
    except OSError:
        return {}
    return dict(re.findall(r'^(\w+)="([^"]*)"', text, re.MULTILINE))


def java_release(home: Path) -> int | None:
    """The feature release (17, 21, 25, ...) of the JDK or JRE in `home`, from its `release`
    file; None when `home` holds no usable Java."""
    found = re.match(r"(\d+)(?:\.(\d+))?", _release_fields(home).get("JAVA_VERSION", ""))
    if not found or not (home / "bin" / "java").exists():
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major  # "1.8.0" is release 8


def spark_java_home(roots: tuple[Path, ...] = (JVM_ROOT,)) -> Path | None:
    """The Java that local Spark jobs run on: SMARTWATCH_SPARK_JAVA_HOME when set; otherwise
    the newest release of SPARK_JAVA_RELEASES among JAVA_HOME, the `java` on PATH and the
    JDKs installed under `roots`. None: leave Spark to JAVA_HOME or PATH."""
    explicit = os.environ.get("SMARTWATCH_SPARK_JAVA_HOME")
    if explicit:
        return Path(explicit)
    supported = {int(r) for r in versions()["SPARK_JAVA_RELEASES"].split(",")}
    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]))
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path).resolve().parent.parent)
    for root in roots:
        if root.is_dir():
            candidates += sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())
    best: tuple[int, Path] | None = None
    for home in candidates:
        release = java_release(home)
        if release in supported and (best is None or release > best[0]):
            best = (release, home)
    return best[1] if best else None


AOT_MIN_RELEASE = 25  # -XX:AOTCacheOutput, one-step training with method profiles


def spark_aot_cache(home: Path | None) -> Path | None:
    """Where the ahead-of-time cache of local Spark jobs on the Java in `home` lives (built by
    `make setup`, see smartwatch_jobs.aot), keyed by Spark version and Java build; None when
    that Java cannot use one."""
    release = java_release(home) if home else None
    if home is None or release is None or release < AOT_MIN_RELEASE:
        return None
    fields = _release_fields(home)
    build = fields.get("JAVA_RUNTIME_VERSION") or fields["JAVA_VERSION"]
    key = re.sub(r"[^A-Za-z0-9.+-]", "_", build)
    return cache_dir() / f"spark-aot-{versions()['SPARK_VERSION']}-java{key}" / "spark.aot"


def spark_settings() -> dict[str, object]:
    """The settings of a local Spark session taken from the set-up cache: the connector jars,
    the Java to start and its ahead-of-time cache (for Settings(**...))."""
    java_home = spark_java_home()
    return {"spark_jars": spark_jars(), "spark_java_home": java_home,
            "spark_aot_cache": spark_aot_cache(java_home)}


def spark_settings_env() -> str:
    """The jars and the Java of spark_settings() as SMARTWATCH_* shell assignments (used by
    build/setup.sh for the ahead-of-time training run, which writes the cache itself)."""
    values = spark_settings()
    jars: list[Path] = values["spark_jars"]  # type: ignore[assignment]
    pairs = {"SMARTWATCH_SPARK_JARS": ",".join(str(p) for p in jars),
             "SMARTWATCH_SPARK_JAVA_HOME": str(values["spark_java_home"] or "")}
    return "\n".join(f"{k}={shlex.quote(v)}" for k, v in pairs.items() if v)


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


# --- kind: the node image built here (build/kind/) and the programs it is built from -----------

def tool_dirs() -> dict[str, Path]:
    """The cache folders of the programs the kind images are built from, by the names
    build/kind/images.sh reads."""
    v, c = versions(), cache_dir()
    return {
        "K8S_DIR": c / f"k8s-{v['KUBERNETES_VERSION']}",
        "K8S_NODE_DIR": c / f"k8s-node-{v['KUBERNETES_VERSION']}",
        "ETCD_DIR": c / f"etcd-{v['ETCD_VERSION']}",
        "CONTAINERD_DIR": c / f"containerd-{v['CONTAINERD_VERSION']}",
        "RUNC_DIR": c / f"runc-{v['RUNC_VERSION']}",
        "CNI_DIR": c / f"cni-plugins-{v['CNI_PLUGINS_VERSION']}",
        "COREDNS_DIR": c / f"coredns-{v['COREDNS_VERSION']}",
        "LOCAL_PATH_DIR": c / f"local-path-provisioner-{v['LOCAL_PATH_PROVISIONER_VERSION']}",
    }


#: The pins the kind images are made of (build/kind/images.sh and the programs of tool_dirs).
KIND_IMAGE_PINS = ("KUBERNETES_VERSION", "ETCD_VERSION", "DEBIAN_SUITE", "CONTAINERD_VERSION",
                   "RUNC_VERSION", "CNI_PLUGINS_VERSION", "COREDNS_VERSION",
                   "LOCAL_PATH_PROVISIONER_VERSION")


@functools.cache
def kind_images_key() -> str:
    """What the local kind images are made of: their pins and build/kind/, hashed (other pins
    of versions.env leave them as they are)."""
    v = versions()
    digest = hashlib.sha256("".join(f"{k}={v[k]}\n" for k in KIND_IMAGE_PINS).encode())
    folder = REPO_ROOT / "build" / "kind"
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:10]


def kind_images() -> dict[str, str | Path]:
    """The locally built node image and Debian base: their tags and the archives that hold
    them (the folder exists once `make setup` built them)."""
    v, key = versions(), kind_images_key()
    folder = cache_dir() / f"kind-images-v{v['KUBERNETES_VERSION']}-{key}"
    return {
        "dir": folder,
        "node_image": f"smartwatch/kind-node:v{v['KUBERNETES_VERSION']}-{key}",
        "base_image": f"smartwatch/debian-base:{v['DEBIAN_SUITE']}-{key}",
        "node_archive": folder / "node.tar",
        "base_archive": folder / "debian-base.tar",
    }


def kind_build_env() -> str:
    """Shell assignments for build/kind/images.sh (used by build/setup.sh)."""
    images = kind_images()
    pairs = {**{k: str(p) for k, p in tool_dirs().items()}, "KIND_IMAGES_DIR": str(images["dir"]),
             "NODE_IMAGE": str(images["node_image"]), "BASE_IMAGE": str(images["base_image"])}
    return "\n".join(f"{k}={shlex.quote(val)}" for k, val in pairs.items())
