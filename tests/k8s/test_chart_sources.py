"""The chart against its other sources: the CRDs, peering and RBAC it shares with manifests/, the
packaged chart, the Spark driver's role, and skaffold.yaml's wiring of the images."""


from __future__ import annotations

import re
import tarfile
from pathlib import Path

import pytest
import yaml

from smartwatch.toolchain import REPO_ROOT
from tests.k8s.chart import (
    CHART,
    OPERATOR_MANIFESTS,
    RELEASE,
    SKAFFOLD,
    VALUES,
    _errors,
    _helm,
    _one,
    render,
)
from tests.k8s.conftest import SCHEDULE_CRD

pytestmark = pytest.mark.k8s


def test_chart_crd_is_the_manifests_crd() -> None:
    chart_crd = CHART / "crds" / SCHEDULE_CRD.name
    assert chart_crd.is_symlink() and chart_crd.resolve() == SCHEDULE_CRD.resolve()
    assert chart_crd.read_bytes() == SCHEDULE_CRD.read_bytes()


def test_packaged_chart_carries_the_crd_itself(tmp_path: Path) -> None:
    proc = _helm("package", str(CHART), "--destination", str(tmp_path))
    assert proc.returncode == 0, _errors(proc)
    (package,) = tmp_path.glob("smartwatch-*.tgz")
    with tarfile.open(package) as tar:
        member = tar.getmember(f"smartwatch/crds/{SCHEDULE_CRD.name}")
        assert member.isfile()
        assert tar.extractfile(member).read() == SCHEDULE_CRD.read_bytes()
    proc = _helm("template", RELEASE, str(package), "--include-crds")
    assert proc.returncode == 0, _errors(proc)
    crds = {d["metadata"]["name"] for d in yaml.safe_load_all(proc.stdout)
            if d and d["kind"] == "CustomResourceDefinition"}
    assert crds == {"aggregationschedules.smartwatch.dev", "clusterkopfpeerings.kopf.dev",
                    "kopfpeerings.kopf.dev"}


def test_the_chart_ships_the_crds_of_the_manifests_and_no_others() -> None:
    """One copy of each CRD: the chart's crds/ links to manifests/crds/."""
    manifests = REPO_ROOT / "manifests" / "crds"
    shipped = sorted(CHART.joinpath("crds").iterdir())
    assert [p.name for p in shipped] == sorted(p.name for p in manifests.glob("*.yaml"))
    assert all(p.resolve() == (manifests / p.name).resolve() for p in shipped)


def test_operator_rbac_and_command_match_the_manifests() -> None:
    docs = render([])
    manifests = [d for d in yaml.safe_load_all((OPERATOR_MANIFESTS / "rbac.yaml").read_text()) if d]
    expected = _one(manifests, "ClusterRole")["rules"]
    role = _one(docs, "ClusterRole")
    assert role["rules"] == expected
    binding = _one(docs, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    deployment = _one(docs, "Deployment", f"{RELEASE}-operator")
    spec = deployment["spec"]["template"]["spec"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": spec["serviceAccountName"],
                                    "namespace": "smartwatch"}]
    command = spec["containers"][0]["command"]
    assert command[:2] == ["smartwatch", "operator"]
    assert {"--in-cluster", "--all-namespaces"} <= set(command)
    peering = _one(docs, "ClusterKopfPeering")
    assert command[command.index("--peering") + 1] == peering["metadata"]["name"]


def test_spark_driver_role_lets_it_manage_executor_pods() -> None:
    docs = render([])
    role = next(d for d in docs if d["kind"] == "Role" and d["metadata"]["name"].endswith("-spark"))
    binding = next(d for d in docs if d["kind"] == "RoleBinding"
                   and d["roleRef"]["name"] == role["metadata"]["name"])
    rules = {(r, v) for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]}
    assert {("pods", "create"), ("pods", "delete"), ("pods", "watch"), ("services", "create"),
            ("configmaps", "create"), ("persistentvolumeclaims", "create")} <= rules
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "spark", "namespace": "smartwatch"}]


# --- skaffold.yaml --------------------------------------------------------------------------------

def _template_key(image: str) -> str:
    return re.sub(r"[/.\-]", "_", image)


def test_skaffold_builds_both_images_and_wires_them_into_the_chart() -> None:
    assert SKAFFOLD["apiVersion"] == "skaffold/v4beta11"
    artifacts = {a["image"]: a for a in SKAFFOLD["build"]["artifacts"]}
    assert set(artifacts) == {"smartwatch", "smartwatch-spark"}
    for artifact in artifacts.values():
        assert (REPO_ROOT / artifact.get("context", ".") / artifact["docker"]["dockerfile"]).is_file()
    assert SKAFFOLD["build"]["tagPolicy"] == {"sha256": {}}
    (release,) = SKAFFOLD["deploy"]["helm"]["releases"]
    assert (REPO_ROOT / release["chartPath"]).resolve() == CHART.resolve()
    assert release["name"] == RELEASE
    wiring = {"image": "smartwatch", "sparkImage": "smartwatch-spark"}  # chart value -> artifact
    assert release["setValueTemplates"] == {
        key: value
        for section, image in wiring.items()
        for key, value in ((f"{section}.repository", f"{{{{.IMAGE_REPO_{_template_key(image)}}}}}"),
                           (f"{section}.tag", f"{{{{.IMAGE_TAG_{_template_key(image)}}}}}"))}
    for key in release["setValueTemplates"]:
        section, field = key.split(".")
        assert field in VALUES[section], key
    # The Spark image fields of the custom resources are rewritten too.
    kinds = {f["groupKind"] for f in SKAFFOLD["resourceSelector"]["allow"]}
    assert kinds == {"SparkApplication.sparkoperator.k8s.io", "AggregationSchedule.smartwatch.dev"}


def test_skaffold_profiles() -> None:
    profiles = {p["name"]: p for p in SKAFFOLD["profiles"]}
    (forward,) = profiles["dev"]["portForward"]
    (release,) = SKAFFOLD["deploy"]["helm"]["releases"]
    service = _one(render([]), "Service", forward["resourceName"])
    assert forward["namespace"] == release["namespace"]
    assert forward["port"] == service["spec"]["ports"][0]["port"]
    kind = profiles["kind"]
    assert {"op": "add", "path": "/build/local/push", "value": False} in kind["patches"]
    (kind_release,) = kind["deploy"]["helm"]["releases"]
    assert {k: v for k, v in kind_release.items() if k != "setValues"} == release
    assert kind["deploy"]["statusCheckDeadlineSeconds"] == SKAFFOLD["deploy"]["statusCheckDeadlineSeconds"]
