"""The project's own images, built with the engine of a checkout's kind cluster and loaded
into it (dev tooling; build/images/ holds the Dockerfiles).

The build context holds only what the images install (the lock, the project's sources), so it
is the same whatever else the checkout holds; the image's tag is a hash of that context, the
Dockerfile, versions.env and the base, so an unchanged checkout builds nothing twice on one
engine. The base is the cluster's Debian base (the local one with the local node image);
Debian's packages and PyPI are reached through the host's network.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from smartwatch import toolchain
from smartwatch.stack.cluster import Cluster

DOCKERFILES = {"smartwatch": "build/images/smartwatch.Dockerfile"}
CONTEXT = ("pyproject.toml", "uv.lock", "README.md", "services", "jobs", "operator")
SKIP = ("__pycache__", ".pyc", ".mypy_cache", ".ruff_cache")


def _context_files() -> list[Path]:
    root = toolchain.REPO_ROOT
    files: list[Path] = []
    for entry in CONTEXT:
        path = root / entry
        found = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        files += [p for p in found if not any(s in str(p) for s in SKIP)]
    return files


def image_ref(name: str, base: str) -> str:
    """The tag of image `name` built on `base` from this checkout."""
    root = toolchain.REPO_ROOT
    digest = hashlib.sha256(base.encode())
    for path in [root / DOCKERFILES[name], root / "versions.env", *_context_files()]:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return f"smartwatch/{name}:{digest.hexdigest()[:12]}"


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


def build(cluster: Cluster, name: str, report=lambda line: None) -> str:
    """Build image `name` on the cluster's engine (unless that engine has it) and load it
    into the cluster's node; its reference."""
    base = cluster.base_image()
    ref = image_ref(name, base)
    if cluster.docker("image", "inspect", ref, check=False).returncode != 0:
        root = toolchain.REPO_ROOT
        versions = toolchain.versions()
        with tempfile.TemporaryDirectory(prefix=f"smartwatch-image-{name}-") as folder:
            ctx = Path(folder)
            for path in _context_files():
                target = ctx / path.relative_to(root)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
            shutil.copy2(root / DOCKERFILES[name], ctx / "Dockerfile")
            cluster.docker("build", "--network", "host", "-t", ref, "--build-arg", f"BASE={base}",
                           "--build-arg", f"BUILD_BASE={build_base(cluster, base)}",
                           "--build-arg", f"PYTHON_VERSION={versions['PYTHON_VERSION']}",
                           "--build-arg", f"UV_VERSION={versions['UV_VERSION']}", str(ctx),
                           timeout=1800)
        report(f"image {ref}: built on {base}")
    cluster.load_image(ref)
    return ref
