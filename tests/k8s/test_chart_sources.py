"""The chart against its other sources: the CRDs, peering and RBAC it shares with manifests/, the
packaged chart, the Spark driver's role, and skaffold.yaml's wiring of the images."""


from __future__ import annotations

import re
import tarfile
from pathlib import Path

import pytest
import yaml

from smartwatch_dev.stack.images import IMAGES
from smartwatch_dev.stack.release import IMAGE_VALUES, KIND_VALUES
from smartwatch_dev.toolchain import REPO_ROOT
from tests.k8s.chart import (
    CHART,
    OPERATOR_MANIFESTS,
    RELEASE,
    SKAFFOLD,
    VALUES,
    helm_errors,
    one_object,
    render,
    run_helm,
)
from tests.k8s.conftest import SCHEDULE_CRD

pytestmark = pytest.mark.helm


def test_chart_crd_is_the_manifests_crd() -> None:
    chart_crd = CHART / "crds" / SCHEDULE_CRD.name
    assert chart_crd.is_symlink() and chart_crd.resolve() == SCHEDULE_CRD.resolve()
    assert chart_crd.read_bytes() == SCHEDULE_CRD.read_bytes()


def test_packaged_chart_carries_the_crd_itself(tmp_path: Path) -> None:
    proc = run_helm("package", str(CHART), "--destination", str(tmp_path))
    assert proc.returncode == 0, helm_errors(proc)
    (package,) = tmp_path.glob("smartwatch-*.tgz")
    with tarfile.open(package) as tar:
        member = tar.getmember(f"smartwatch/crds/{SCHEDULE_CRD.name}")
        assert member.isfile()
        assert tar.extractfile(member).read() == SCHEDULE_CRD.read_bytes()
    proc = run_helm("template", RELEASE, str(package), "--include-crds")
    assert proc.returncode == 0, helm_errors(proc)
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
    expected = one_object(manifests, "ClusterRole")["rules"]
    role = one_object(docs, "ClusterRole")
    assert role["rules"] == expected
    binding = one_object(docs, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    deployment = one_object(docs, "Deployment", f"{RELEASE}-operator")
    spec = deployment["spec"]["template"]["spec"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": spec["serviceAccountName"],
                                    "namespace": "smartwatch"}]
    command = spec["containers"][0]["command"]
    assert command[:2] == ["smartwatch", "operator"]
    assert {"--in-cluster", "--all-namespaces"} <= set(command)
    peering = one_object(docs, "ClusterKopfPeering")
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


def _wiring(release: dict) -> dict[str, str]:
    """Chart value section -> artifact, from a release's setValueTemplates (which must set
    each section's repository and tag from the same artifact)."""
    templates = dict(release["setValueTemplates"])
    wiring = {}
    for key, value in templates.items():
        section, _, field = key.rpartition(".")
        match = re.fullmatch(r"\{\{\.IMAGE_(REPO|TAG)_(\w+)\}\}", value)
        assert match and field == {"REPO": "repository", "TAG": "tag"}[match[1]], (key, value)
        wiring.setdefault(section, set()).add(match[2])
    assert all(len(artifacts) == 1 for artifacts in wiring.values()), wiring
    assert all(f"{s}.repository" in templates and f"{s}.tag" in templates for s in wiring)
    return {section: artifacts.pop() for section, artifacts in wiring.items()}


def _artifacts(patches: list[dict] = ()) -> dict[str, dict]:
    built = {a["image"]: a for a in SKAFFOLD["build"]["artifacts"]}
    built.update((p["value"]["image"], p["value"]) for p in patches
                 if p["path"] == "/build/artifacts/-")
    return built


def test_skaffold_builds_the_images_with_the_project_builder_and_wires_them_into_the_chart() -> None:
    assert SKAFFOLD["apiVersion"] == "skaffold/v4beta13"
    assert SKAFFOLD["build"]["tagPolicy"] == {"inputDigest": {}}
    kind = next(p for p in SKAFFOLD["profiles"] if p["name"] == "kind")
    for name, artifact in _artifacts(kind["patches"]).items():
        assert artifact["custom"]["buildCommand"] == f"build/images/skaffold-build.sh {name}"
        image = IMAGES[name]
        # every input of the image is a dependency, so a change there gives a new tag
        paths = set(artifact["custom"]["dependencies"]["paths"])
        assert {"versions.env", image.dockerfile, *image.sources} <= paths
        assert not image.files or f"build/images/{image.files}" in paths
        for path in paths:
            assert (REPO_ROOT / path).exists(), path
    assert set(_artifacts()) == {"smartwatch", "smartwatch-spark"}
    assert set(_artifacts(kind["patches"])) == {n for n, i in IMAGES.items() if i.chart}

    (release,) = SKAFFOLD["deploy"]["helm"]["releases"]
    assert (REPO_ROOT / release["chartPath"]).resolve() == CHART.resolve()
    assert release["name"] == RELEASE
    assert _wiring(release) == {"image": "smartwatch", "sparkImage": "smartwatch_spark"}
    (kind_release,) = kind["deploy"]["helm"]["releases"]
    # the kind profile installs what `smartwatch cluster install` installs
    assert [REPO_ROOT / f for f in kind_release["valuesFiles"]] == [KIND_VALUES]
    assert _wiring(kind_release) == {section: name.replace("-", "_")
                                     for name, section in IMAGE_VALUES.items()}
    for section in _wiring(kind_release):
        node = VALUES
        for part in section.split("."):
            node = node[part]
        assert {"repository", "tag"} <= set(node), section
    # The Spark image fields of the custom resources are rewritten too.
    kinds = {f["groupKind"] for f in SKAFFOLD["resourceSelector"]["allow"]}
    assert kinds == {"SparkApplication.sparkoperator.k8s.io", "AggregationSchedule.smartwatch.dev"}


def test_skaffold_profiles() -> None:
    profiles = {p["name"]: p for p in SKAFFOLD["profiles"]}
    (forward,) = profiles["dev"]["portForward"]
    (release,) = SKAFFOLD["deploy"]["helm"]["releases"]
    service = one_object(render([]), "Service", forward["resourceName"])
    assert forward["namespace"] == release["namespace"]
    assert forward["port"] == service["spec"]["ports"][0]["port"]
    kind = profiles["kind"]
    assert {"op": "add", "path": "/build/local/push", "value": False} in kind["patches"]
    (kind_release,) = kind["deploy"]["helm"]["releases"]
    assert {k: kind_release[k] for k in ("name", "namespace", "chartPath")} == {
        k: release[k] for k in ("name", "namespace", "chartPath")}
    assert kind["deploy"]["statusCheckDeadlineSeconds"] == SKAFFOLD["deploy"]["statusCheckDeadlineSeconds"]
