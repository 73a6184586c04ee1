"""Fixtures of the k8s tier: a kubernetes client on the test stack's kube-apiserver, and CRDs
installed into it (the project's own from manifests/, spark-operator's real ones from the
third-party CRD folder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartwatch_dev import toolchain
from smartwatch_dev.stack import crds
from smartwatch_dev.stack.crds import apply_crds
from tests.k8s.operator_env import cluster, operator, runner  # noqa: F401 (the operator tests' fixtures)

__all__ = ["SCHEDULE_CRD", "apply_crds", "third_party_crds"]

SPARK_OPERATOR_CRDS = "spark-operator-2.5.2"
STRIMZI_CRDS = "strimzi-1.2.0"
SCHEDULE_CRD = toolchain.SCHEDULE_CRD


def third_party_crds(folder: str) -> Path:
    """The folder of the real CRDs, or a skip that says which setting to give."""
    found = crds.third_party_crds(folder)
    if found is None:
        looked = ", ".join(map(str, crds.third_party_crd_candidates(folder)))
        pytest.skip(f"no {folder} CRDs: set {crds.THIRD_PARTY_CRDS_SETTING} to a folder holding "
                    f"{folder}/ (looked in {looked})")
    return found


@pytest.fixture(scope="session")
def kube_client(kubeconfig: Path):
    from kubernetes import config

    return config.new_client_from_config(config_file=str(kubeconfig))


@pytest.fixture(scope="session")
def spark_operator_crds(kube_client) -> None:
    folder = third_party_crds(SPARK_OPERATOR_CRDS)
    apply_crds(kube_client, sorted(folder.glob("*.yaml")))


@pytest.fixture(scope="session")
def schedule_crd(kube_client) -> None:
    apply_crds(kube_client, [SCHEDULE_CRD])


@pytest.fixture(scope="session")
def strimzi_crds(kube_client) -> None:
    folder = third_party_crds(STRIMZI_CRDS)
    apply_crds(kube_client, sorted(folder.glob("*.yaml")))
