"""Fixtures of the k8s tier: a kubernetes client on the test stack's kube-apiserver, and CRDs
installed into it (the project's own from manifests/, spark-operator's real ones from the
third-party CRD folder)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import yaml

from smartwatch.toolchain import REPO_ROOT

# Where the real third-party CRDs are: this setting, else ../shared/crds beside the checkout.
CRDS_SETTING = "SMARTWATCH_THIRD_PARTY_CRDS"
SPARK_OPERATOR_CRDS = "spark-operator-2.5.2"
STRIMZI_CRDS = "strimzi-1.2.0"
SCHEDULE_CRD = REPO_ROOT / "manifests" / "crds" / "aggregationschedules.smartwatch.dev.yaml"


def third_party_crds(folder: str) -> Path:
    candidates = []
    if os.environ.get(CRDS_SETTING):
        candidates.append(Path(os.environ[CRDS_SETTING]) / folder)
    candidates.append(REPO_ROOT.parent / "shared" / "crds" / folder)
    for path in candidates:
        if path.is_dir() and any(path.glob("*.yaml")):
            return path
    pytest.skip(f"no {folder} CRDs: set {CRDS_SETTING} to a folder holding {folder}/ "
                f"(looked in {', '.join(str(c) for c in candidates)})")


def apply_crds(api_client, paths: list[Path]) -> None:
    """Create or replace each CRD in the files, then wait until all are Established."""
    from kubernetes import client

    ext = client.ApiextensionsV1Api(api_client)
    names = []
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            name = doc["metadata"]["name"]
            names.append(name)
            try:
                ext.create_custom_resource_definition(doc)
            except client.ApiException as exc:
                if exc.status != 409:
                    raise
                current = ext.read_custom_resource_definition(name)
                doc["metadata"]["resourceVersion"] = current.metadata.resource_version
                ext.replace_custom_resource_definition(name, doc)
    deadline = time.monotonic() + 60
    for name in names:
        while True:
            crd = ext.read_custom_resource_definition(name)
            conds = {c.type: c.status for c in (crd.status.conditions or [])}
            if conds.get("Established") == "True":
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {name} never became Established")
            time.sleep(0.2)


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
