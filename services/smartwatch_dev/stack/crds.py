"""CRDs for the k8s test tier and the operator benchmark: the project's own and the real
third-party ones (spark-operator's, Strimzi's), applied to a kube-apiserver. Dev tooling: no
runtime code and no chart uses it."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import yaml

from smartwatch_dev import toolchain

# Real third-party CRDs (spark-operator's, Strimzi's) for tests and benchmarks: this setting
# names a folder of CRD folders; else ../shared/crds beside the checkout.
THIRD_PARTY_CRDS_SETTING = "SMARTWATCH_THIRD_PARTY_CRDS"


def third_party_crd_candidates(folder: str) -> list[Path]:
    found = []
    if os.environ.get(THIRD_PARTY_CRDS_SETTING):
        found.append(Path(os.environ[THIRD_PARTY_CRDS_SETTING]) / folder)
    found.append(toolchain.REPO_ROOT.parent / "shared" / "crds" / folder)
    return found


def third_party_crds(folder: str) -> Path | None:
    """The folder of `folder`'s CRD files (e.g. spark-operator-2.5.2), or None."""
    return next((p for p in third_party_crd_candidates(folder)
                 if p.is_dir() and any(p.glob("*.yaml"))), None)


def apply_crds(api_client: Any, paths: list[Path], timeout: float = 60) -> None:
    """Create or replace every CRD in the files, then wait until all are Established."""
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
                assert current.metadata is not None
                doc["metadata"]["resourceVersion"] = current.metadata.resource_version
                ext.replace_custom_resource_definition(name, doc)
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            crd = ext.read_custom_resource_definition(name)
            conds = {c.type: c.status for c in ((crd.status and crd.status.conditions) or [])}
            if conds.get("Established") == "True":
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {name} never became Established")
            time.sleep(0.2)
