"""The project's images, built with the engine of a checkout's kind cluster and loaded into it
(dev tooling; build/images/ holds the Dockerfiles).

Each image's build context is assembled here from what it installs: the project's lock and
sources, its own files from build/images/<folder>/, the jars Maven Central resolves for it
(`jars/`, with the host's Maven and the set-up cache's repository) and programs make setup
built (the object store's `weed`). Its tag is a hash of those inputs, the Dockerfile,
versions.env and the base, so an unchanged checkout builds nothing twice: a built image is
kept as an archive in the set-up cache (`images/`) and loaded from there into a new engine,
and the engine keeps only the latest build of each image.
The base is the cluster's Debian base (the local one with the local node image); Debian's
packages and PyPI are reached through the host's network.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from smartwatch_dev import toolchain
from smartwatch_dev.stack.cluster import Cluster

PROJECT = ("pyproject.toml", "uv.lock", "README.md", "services", "jobs", "operator")
SKIP = ("__pycache__", ".pyc", ".mypy_cache", ".ruff_cache")
#: Sources no image holds: the dev tooling (this package) runs on a developer's machine only.
DEV_SOURCES = ("services/smartwatch_dev",)
KEEP_ARCHIVES = 2  # archives kept per image in the cache (another checkout may want the last)


@dataclass(frozen=True)
class Image:
    """How one image is built: its Dockerfile, what its context holds, its build args
    (names of versions.env) and whether its build stage needs the host's trust store."""

    dockerfile: str
    sources: tuple[str, ...] = ()  # repository paths, copied at the same place
    files: str | None = None  # a folder of build/images/, copied as <folder>/
    jars: Callable[[dict[str, str]], list[str]] | None = None  # Maven coordinates
    binaries: Callable[[], dict[str, Path]] = field(default=lambda: {})  # context name -> file
    args: tuple[str, ...] = ()
    trust_host: bool = False
    on: str | None = None  # another of these images as BASE, instead of the Debian base
    chart: bool = True  # one of the chart's images (build_all), or the kind tier's own


def _spark_jars(v: dict[str, str]) -> list[str]:
    return [f"org.apache.spark:spark-sql-kafka-0-10_{v['SCALA_BINARY_VERSION']}:{v['SPARK_VERSION']}",
            f"org.postgresql:postgresql:{v['POSTGRES_JDBC_VERSION']}",
            # hadoop-aws needs the AWS SDK's S3 modules, not its 600 MB bundle.
            f"org.apache.hadoop:hadoop-aws:{v['HADOOP_VERSION']}!software.amazon.awssdk:bundle",
            *(f"software.amazon.awssdk:{m}:{v['AWS_SDK_VERSION']}"
              for m in ("s3", "s3-transfer-manager", "sts", "apache-client"))]


def _built(folder: str, program: str, what: str) -> dict[str, Path]:
    """`program` of the set-up cache's folder named `folder` in toolchain.TOOL_DIRS (make setup
    built it), by its context name."""
    path = toolchain.tool_dir(folder) / program
    if not path.exists():
        raise toolchain.ToolMissing(f"{what} is not built ({path}): run `make setup`")
    return {program: path}


def _spark_operator() -> dict[str, Path]:
    return _built("SPARK_OPERATOR_DIR", "spark-operator", "spark-operator")


def _kafka_jars(v: dict[str, str]) -> list[str]:
    return [f"org.apache.kafka:kafka_2.13:{v['KAFKA_VERSION']}",
            f"org.apache.kafka:kafka-tools:{v['KAFKA_VERSION']}",
            f"org.apache.logging.log4j:log4j-slf4j-impl:{v['LOG4J_VERSION']}"]


def _weed() -> dict[str, Path]:
    return _built("SEAWEEDFS_DIR", "weed", "SeaweedFS")


IMAGES = {
    "smartwatch": Image("build/images/smartwatch.Dockerfile", PROJECT,
                        args=("PYTHON_VERSION", "UV_VERSION"), trust_host=True),
    "smartwatch-spark": Image("build/images/smartwatch-spark.Dockerfile", PROJECT,
                              files="spark", jars=_spark_jars, trust_host=True,
                              args=("PYTHON_VERSION", "UV_VERSION", "SPARK_VERSION")),
    "smartwatch-kafka": Image("build/images/smartwatch-kafka.Dockerfile", files="kafka",
                              jars=_kafka_jars),
    "smartwatch-postgres": Image("build/images/smartwatch-postgres.Dockerfile",
                                 files="postgres", args=("POSTGRES_MAJOR",)),
    "smartwatch-objectstore": Image("build/images/smartwatch-objectstore.Dockerfile",
                                    files="objectstore", binaries=_weed),
    "smartwatch-spark-operator": Image("build/images/smartwatch-spark-operator.Dockerfile",
                                       binaries=_spark_operator, on="smartwatch-spark",
                                       chart=False),
}


def _context_files(image: Image) -> dict[str, Path]:
    """Context path -> repository file, for the image's sources and own files."""
    root = toolchain.REPO_ROOT
    found: dict[str, Path] = {}
    entries = [(root / s, root) for s in image.sources]
    if image.files:
        entries.append((root / "build" / "images" / image.files, root / "build" / "images"))
    for path, base in entries:
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for p in files:
            dev = p.is_relative_to(root) and str(p.relative_to(root)).startswith(DEV_SOURCES)
            if not dev and not any(s in str(p) for s in SKIP):
                found[str(p.relative_to(base))] = p
    return found


def image_ref(name: str, base: str) -> str:
    """The tag of image `name` built on `base` from this checkout."""
    image = IMAGES[name]
    root = toolchain.REPO_ROOT
    versions = toolchain.versions()
    digest = hashlib.sha256(base.encode())
    for label, path in [("Dockerfile", root / image.dockerfile),
                        ("versions.env", root / "versions.env"),
                        *_context_files(image).items()]:
        digest.update(label.encode() + b"\0" + path.read_bytes())
    for coordinate in image.jars(versions) if image.jars else []:
        digest.update(b"jar\0" + coordinate.encode())
    for label, path in image.binaries().items():
        digest.update(f"bin\0{label}\0{path}".encode())
    return f"smartwatch/{name}:{digest.hexdigest()[:12]}"


def _dependency(coordinate: str) -> str:
    spec, _, excluded = coordinate.partition("!")
    group, artifact, version = spec.split(":")
    exclusions = "".join(
        f"<exclusion><groupId>{e.split(':')[0]}</groupId><artifactId>{e.split(':')[1]}"
        "</artifactId></exclusion>" for e in excluded.split(",") if e)
    return (f"<dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
            f"<version>{version}</version><exclusions>{exclusions}</exclusions></dependency>")


def _shipped_with_spark() -> set[str]:
    """Artifact names of the jars pyspark ships (the Spark image's classpath already)."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise toolchain.ToolMissing("pyspark is not installed: run `make setup`")
    return {_artifact(p.name) for p in (Path(spec.origin).parent / "jars").glob("*.jar")}


def _artifact(jar_name: str) -> str:
    return re.sub(r"-[0-9][0-9A-Za-z.]*(-[0-9A-Za-z.]+)*\.jar$", "", jar_name)


def resolve_jars(coordinates: list[str], *, drop: set[str] = frozenset()) -> Path:  # type: ignore[assignment]
    """The jars of `coordinates` and their runtime dependencies, resolved by Maven into the
    set-up cache (a folder keyed by the coordinates), without artifacts named in `drop`."""
    key = hashlib.sha256("\n".join([*coordinates, *sorted(drop)]).encode()).hexdigest()[:12]
    dest = toolchain.cache_dir() / "image-jars" / key
    if (dest / ".complete").exists():
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix="smartwatch-jars-"))
    try:
        (work / "pom.xml").write_text(
            '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
            "<groupId>local.smartwatch</groupId><artifactId>image-jars</artifactId>"
            "<version>1</version><packaging>pom</packaging><dependencies>"
            + "".join(_dependency(c) for c in coordinates) + "</dependencies></project>")
        done = subprocess.run(
            ["mvn", "-q", "-B", "-f", str(work / "pom.xml"),
             f"-Dmaven.repo.local={toolchain.maven_repo()}", "dependency:copy-dependencies",
             "-DincludeScope=runtime", f"-DoutputDirectory={dest}"],
            capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            raise RuntimeError(f"Maven could not resolve {coordinates}:\n{done.stdout[-3000:]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for jar in dest.glob("*.jar"):
        if _artifact(jar.name) in drop:
            jar.unlink()
    (dest / ".complete").touch()
    return dest


def _assemble(name: str, folder: Path) -> None:
    image = IMAGES[name]
    for target, path in _context_files(image).items():
        (folder / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, folder / target)
    shutil.copy2(toolchain.REPO_ROOT / image.dockerfile, folder / "Dockerfile")
    if image.jars:
        drop = _shipped_with_spark() if name == "smartwatch-spark" else set()
        shutil.copytree(resolve_jars(image.jars(toolchain.versions()), drop=drop), folder / "jars",
                        ignore=shutil.ignore_patterns(".complete"))
    for target, path in image.binaries().items():
        shutil.copy2(path, folder / target)


def _archive(ref: str) -> Path:
    return toolchain.cache_dir() / "images" / (ref.replace("/", "_").replace(":", "-") + ".tar")


def _keep_archives(name: str, current: Path) -> None:
    own = re.compile(rf"smartwatch_{re.escape(name)}-[0-9a-f]{{12}}\.tar")
    others = sorted((p for p in current.parent.iterdir() if own.fullmatch(p.name) and p != current),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in others[KEEP_ARCHIVES - 1:]:
        stale.unlink()


def build(cluster: Cluster, name: str, report=lambda line: None, *, load: bool = True) -> str:
    """Image `name` on the cluster's engine: taken from the engine, else from the cache's
    archive, else built (and archived); then, with `load`, loaded into the cluster's node.
    Its reference."""
    image = IMAGES[name]
    base = build(cluster, image.on, report, load=False) if image.on else cluster.base_image()
    ref = image_ref(name, base)
    archive = _archive(ref)
    if cluster.docker("image", "inspect", ref, check=False).returncode != 0:
        if archive.exists():
            cluster.docker("load", "-i", str(archive), timeout=900)
            report(f"image {ref}: loaded from the cache")
        else:
            versions = toolchain.versions()
            args = [f"BASE={base}", *(f"{a}={versions[a]}" for a in image.args)]
            if image.trust_host:
                args.append(f"BUILD_BASE={build_base(cluster, base)}")
            with tempfile.TemporaryDirectory(prefix=f"smartwatch-image-{name}-") as folder:
                _assemble(name, Path(folder))
                cluster.docker("build", "--network", "host", "-t", ref,
                               *(x for a in args for x in ("--build-arg", a)), folder, timeout=3600)
            archive.parent.mkdir(parents=True, exist_ok=True)
            partial = archive.with_suffix(".partial")
            cluster.docker("save", "-o", str(partial), ref, timeout=900)
            partial.rename(archive)
            _keep_archives(name, archive)
            report(f"image {ref}: built on {base}")
        _drop_older(cluster, name, ref)
    if load:
        cluster.load_image(ref)
    return ref


def _drop_older(cluster: Cluster, name: str, current: str) -> None:
    """Remove the engine's other builds of image `name` and the build stages nothing uses any
    more: each build of an image is a new tag, and an engine that keeps them all fills its
    disk (the archives in the cache keep what a later checkout may load again)."""
    repository = current.rpartition(":")[0]
    listed = cluster.docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", repository,
                            check=False).stdout.split()
    older = [ref for ref in listed if ref != current]
    if older:
        cluster.docker("image", "rm", *older, check=False)
    cluster.docker("image", "prune", "--force", check=False)


TRUST_STORE = Path("/etc/ssl/certs/ca-certificates.crt")  # Debian's bundle of trusted CAs


def build_base(cluster: Cluster, base: str) -> str:
    """`base` plus the trust store of the host that builds (SSL_CERT_FILE, else Debian's
    bundle): the base of the images' build stages, so that PyPI is reached through whatever
    TLS proxy the host trusts. The images themselves stay on `base`."""
    bundle = Path(os.environ.get("SSL_CERT_FILE") or TRUST_STORE)
    if not bundle.is_file():
        return base
    digest = hashlib.sha256(base.encode() + bundle.read_bytes()).hexdigest()[:12]
    ref = f"smartwatch/build-base:{digest}"
    if cluster.docker("image", "inspect", ref, check=False).returncode != 0:
        with tempfile.TemporaryDirectory(prefix="smartwatch-build-base-") as folder:
            shutil.copy2(bundle, Path(folder) / "ca.crt")
            (Path(folder) / "Dockerfile").write_text(
                f"FROM {base}\nCOPY ca.crt /etc/ssl/certs/build-host-ca.crt\n"
                "ENV SSL_CERT_FILE=/etc/ssl/certs/build-host-ca.crt "
                "PIP_CERT=/etc/ssl/certs/build-host-ca.crt\n")
            cluster.docker("build", "-t", ref, folder)
    return ref


def build_all(cluster: Cluster, report=lambda line: None) -> dict[str, str]:
    """Every image of the chart, name -> reference."""
    return {name: build(cluster, name, report) for name, image in IMAGES.items() if image.chart}
