"""The Kubernetes names of smartwatch.k8s against the CRDs they name: the project's own, and
spark-operator's real one (../shared/crds, where present)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from smartwatch import k8s
from smartwatch_dev.stack import crds
from smartwatch_dev.toolchain import SCHEDULE_CRD

pytestmark = pytest.mark.unit


def names(path: Path) -> tuple[str, str, str, str]:
    crd = yaml.safe_load(path.read_text())
    served = [v["name"] for v in crd["spec"]["versions"] if v.get("served")]
    assert len(served) >= 1
    return (crd["spec"]["group"], served[-1], crd["spec"]["names"]["plural"],
            crd["spec"]["names"]["kind"])


def test_the_schedule_coordinates_are_the_crds() -> None:
    s = k8s.SCHEDULES
    assert names(SCHEDULE_CRD) == (s.group, s.version, s.plural, s.kind) \
        == ("smartwatch.dev", "v1alpha1", "aggregationschedules", "AggregationSchedule")
    assert SCHEDULE_CRD.name == f"{s.plural}.{s.group}.yaml"
    assert s.api_version == "smartwatch.dev/v1alpha1"


def test_the_sparkapplication_coordinates_are_spark_operators_crd() -> None:
    folder = crds.third_party_crds("spark-operator-2.5.2")
    if folder is None:
        pytest.skip("no spark-operator CRDs beside the checkout")
    a = k8s.SPARK_APPLICATIONS
    crd = folder / f"{a.group}_{a.plural}.yaml"
    group, _, plural, kind = names(crd)
    served = [v["name"] for v in yaml.safe_load(crd.read_text())["spec"]["versions"]]
    assert (group, plural, kind) == (a.group, a.plural, a.kind) and a.version in served


def test_labels_and_annotations_carry_the_projects_prefix() -> None:
    named = {k: v for k, v in vars(k8s).items() if k.endswith(("_LABEL", "_ANNOTATION"))}
    assert len(set(named.values())) == len(named)  # no two names alike
    assert {k for k, v in named.items() if not v.startswith("smartwatch.dev/")} \
        == {"APP_NAME_LABEL"}
    assert k8s.APP_NAME_LABEL == "sparkoperator.k8s.io/app-name"
