"""Where the pinned tools live: versions.env and the set-up cache.

The one description of the cache's layout, which build/setup.sh reads too
(`python3 -m smartwatch_dev.toolchain layout`): the cache is SMARTWATCH_CACHE, by default
${XDG_CACHE_HOME:-~/.cache}/smartwatch; each tool sits in a folder keyed by its version; Go's
module and build caches and Maven's repository are folders of it, never the user's own. What
set-up keeps of older builds and what it prunes is here too (`prune`).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The project's AggregationSchedule CRD.
SCHEDULE_CRD = REPO_ROOT / "manifests" / "crds" / "aggregationschedules.smartwatch.dev.yaml"

class ToolMissing(RuntimeError):
    """A pinned tool is not installed; the message says how to install it."""

    exit_code = 2  # the CLI's exit code for it


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


#: Each tool's folder in the cache, by the name build/setup.sh and build/kind/images.sh read,
#: keyed by the pins of versions.env it is built from.
TOOL_DIRS = {
    "UV_DIR": "uv-{UV_VERSION}",
    "KAFKA_DIR": "kafka-{KAFKA_VERSION}",
    "SPARK_JARS_DIR": "spark-jars-{SPARK_VERSION}-pg{POSTGRES_JDBC_VERSION}",
    "K8S_DIR": "k8s-{KUBERNETES_VERSION}",
    "K8S_NODE_DIR": "k8s-node-{KUBERNETES_VERSION}",
    "ETCD_DIR": "etcd-{ETCD_VERSION}",
    "HELM_DIR": "helm-{HELM_VERSION}",
    "HELM_DOCS_DIR": "helm-docs-{HELM_DOCS_VERSION}",
    "KIND_DIR": "kind-{KIND_VERSION}",
    "SKAFFOLD_DIR": "skaffold-{SKAFFOLD_VERSION}",
    "SPARK_CRDS_DIR": "spark-operator-crds-{SPARK_OPERATOR_VERSION}",
    "SPARK_OPERATOR_DIR": "spark-operator-{SPARK_OPERATOR_VERSION}",
    "SEAWEEDFS_DIR": "seaweedfs-{SEAWEEDFS_REVISION}",
    "CONTAINERD_DIR": "containerd-{CONTAINERD_VERSION}",
    "RUNC_DIR": "runc-{RUNC_VERSION}",
    "CNI_DIR": "cni-plugins-{CNI_PLUGINS_VERSION}",
    "COREDNS_DIR": "coredns-{COREDNS_VERSION}",
    "LOCAL_PATH_DIR": "local-path-provisioner-{LOCAL_PATH_PROVISIONER_VERSION}",
}


def tool_dir(name: str) -> Path:
    """The cache folder TOOL_DIRS names `name` (whether or not set-up filled it)."""
    return cache_dir() / TOOL_DIRS[name].format(**versions())


def tool_dirs() -> dict[str, Path]:
    """Every folder of TOOL_DIRS, by name."""
    return {name: tool_dir(name) for name in TOOL_DIRS}


def go_env() -> dict[str, str]:
    """Go's caches in the project's cache: what set-up builds with and what tests that build
    Go programs or read Go modules use, never the user's default GOPATH or GOMODCACHE."""
    go = cache_dir() / "go"
    return {"GOPATH": str(go / "path"), "GOMODCACHE": str(go / "mod"), "GOCACHE": str(go / "build")}


def maven_repo() -> Path:
    """Maven's local repository in the project's cache (never the user's ~/.m2)."""
    return cache_dir() / "m2"


def python_env_dir() -> Path:
    """The cached Python environment of the lock file and interpreter version (the checkout's
    .venv points at it)."""
    lock = (REPO_ROOT / "uv.lock").read_bytes()
    key = hashlib.sha256(lock + f"{versions()['PYTHON_VERSION']}\n".encode()).hexdigest()[:16]
    return cache_dir() / "python" / key


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise ToolMissing(f"{what} not found at {path}: run `make setup`")
    return path


def kafka_libs() -> Path:
    return _need(tool_dir("KAFKA_DIR") / "libs", "Kafka broker runtime")


def spark_jars() -> list[Path]:
    """Spark's Kafka connector and the Postgres JDBC driver, as local jar files."""
    return sorted(_need(tool_dir("SPARK_JARS_DIR") / "libs", "Spark Kafka connector jars").glob("*.jar"))


def kube_bin(name: str) -> Path:
    """kube-apiserver or kubectl of the pinned Kubernetes release."""
    return _need(tool_dir("K8S_DIR") / name, name)


def etcd_bin() -> Path:
    return _need(tool_dir("ETCD_DIR") / "etcd", "etcd")


def helm_bin() -> Path:
    return _need(tool_dir("HELM_DIR") / "helm", "helm")


def helm_docs_bin() -> Path:
    return _need(tool_dir("HELM_DOCS_DIR") / "helm-docs", "helm-docs")


def kind_bin() -> Path:
    return _need(tool_dir("KIND_DIR") / "kind", "kind")


def skaffold_bin() -> Path:
    return _need(tool_dir("SKAFFOLD_DIR") / "skaffold", "skaffold")


#: spark-operator's CRDs that make setup copies from its Go module, by plural name.
SPARK_OPERATOR_CRDS = ("sparkapplications", "sparkconnects")


def spark_operator_crd(plural: str = "sparkapplications") -> Path:
    """One of spark-operator's CRDs (make setup copies them from its Go module): the
    SparkApplication CRD goes to the local stack's kube-apiserver for the local SparkApplication
    runner; the kind tier installs SparkConnect's beside the shared ones."""
    path = tool_dir("SPARK_CRDS_DIR") / f"sparkoperator.k8s.io_{plural}.yaml"
    return _need(path, f"spark-operator's {plural} CRD")


def spark_application_crd() -> Path:
    return spark_operator_crd("sparkapplications")


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
    `make setup`, see smartwatch_dev.aot), keyed by Spark version and Java build; None when
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
    """The jars and the Java of spark_settings() as SMARTWATCH_* NAME=value lines (read by
    build/setup.sh for the ahead-of-time training run, which writes the cache itself)."""
    values = spark_settings()
    jars: list[Path] = values["spark_jars"]  # type: ignore[assignment]
    pairs = {"SMARTWATCH_SPARK_JARS": ",".join(str(p) for p in jars),
             "SMARTWATCH_SPARK_JAVA_HOME": str(values["spark_java_home"] or "")}
    return "\n".join(f"{k}={v}" for k, v in pairs.items() if v)


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

#: The pins the kind images are made of (build/kind/images.sh and the programs it copies).
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


# --- what set-up reads and what it prunes -------------------------------------------------------

def layout() -> dict[str, str]:
    """Every folder and name build/setup.sh and build/kind/images.sh use, by variable name."""
    c, images = cache_dir(), kind_images()
    return {"SMARTWATCH_CACHE": str(c), **go_env(), "UV_CACHE_DIR": str(c / "uv-cache"),
            "MAVEN_REPO": str(maven_repo()), "PYTHON_ENV_DIR": str(python_env_dir()),
            **{k: str(p) for k, p in tool_dirs().items()},
            "KIND_IMAGES_DIR": str(images["dir"]), "NODE_IMAGE": str(images["node_image"]),
            "BASE_IMAGE": str(images["base_image"])}


def older_builds(candidates: list[Path], current: Path, keep: int = 1) -> list[Path]:
    """Of the builds in `candidates`, those to prune: all but `current` and the `keep` newest
    others (by modification time; a checkout of another revision may still use those)."""
    others = sorted((p for p in candidates if p != current), key=lambda p: p.stat().st_mtime,
                    reverse=True)
    return others[keep:]


def prune() -> list[Path]:
    """Removes older builds of the kind images and of the Python environment, keeping the
    current one and the newest other of each; the removed folders."""
    c = cache_dir()
    kinds = ((sorted(c.glob("kind-images-v*")), Path(kind_images()["dir"])),
             (sorted((c / "python").glob("*")), python_env_dir()))
    removed = []
    for candidates, current in kinds:
        for old in older_builds([p for p in candidates if p.is_dir()], current):
            shutil.rmtree(old)
            removed.append(old)
    return removed


def main(argv: list[str]) -> int:
    """`layout`: NAME=value lines of layout(); `prune`: prune(), one line per removed folder."""
    if argv == ["layout"]:
        print("\n".join(f"{k}={v}" for k, v in layout().items()))
    elif argv == ["prune"]:
        for path in prune():
            print(f"removed {path}")
    else:
        print("usage: python -m smartwatch_dev.toolchain layout|prune", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
