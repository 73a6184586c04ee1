"""helm and kind, built by `make setup`, run and report the pinned versions."""

import subprocess

import pytest

from smartwatch_dev import toolchain

pytestmark = pytest.mark.unit


def _run(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout


def test_helm_version() -> None:
    out = _run(str(toolchain.helm_bin()), "version", "--short")
    assert out.startswith(f"v{toolchain.versions()['HELM_VERSION']}")


def test_kind_version() -> None:
    out = _run(str(toolchain.kind_bin()), "version")
    assert f"v{toolchain.versions()['KIND_VERSION']}" in out


def test_kubectl_is_the_pinned_release() -> None:
    out = _run(str(toolchain.kube_bin("kubectl")), "version", "--client")
    assert f"v{toolchain.versions()['KUBERNETES_VERSION']}" in out


def test_spark_operator_crds_are_in_the_cache() -> None:
    # The kind tier installs SparkConnect's CRD from here, never from a user's Go module cache.
    for plural in toolchain.SPARK_OPERATOR_CRDS:
        text = toolchain.spark_operator_crd(plural).read_text()
        assert f"plural: {plural}" in text
