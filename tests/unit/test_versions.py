"""The pins that must agree do agree: versions.env, pyproject.toml, uv.lock, the
AggregationSchedule CRD's Spark defaults, the images' build args and the chart's defaults."""

import re
import tomllib

import pytest
import yaml

from smartwatch.toolchain import REPO_ROOT, versions

pytestmark = pytest.mark.unit


def _locked(name: str) -> str:
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    return next(p["version"] for p in lock["package"] if p["name"] == name)


def test_pyspark_matches_spark_version() -> None:
    v = versions()
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert f'"pyspark=={v["SPARK_VERSION"]}"' in pyproject
    assert _locked("pyspark") == v["SPARK_VERSION"]


def test_spark_image_is_the_same_spark_and_scala() -> None:
    v = versions()
    tag = v["SPARK_IMAGE"].rsplit(":", 1)[1]
    assert tag.startswith(f"{v['SPARK_VERSION']}-scala{v['SCALA_BINARY_VERSION']}")


def test_kind_node_image_is_the_kubernetes_release() -> None:
    v = versions()
    assert v["KIND_NODE_IMAGE"].endswith(f":v{v['KUBERNETES_VERSION']}")


def test_every_pin_is_a_plain_version() -> None:
    for name, value in versions().items():
        if name.endswith("_VERSION") or name == "POSTGRES_MAJOR":
            assert re.fullmatch(r"\d+(\.\d+)*", value), f"{name}={value!r}"


def test_schedule_crd_spark_defaults_are_the_pins() -> None:
    v = versions()
    crd = yaml.safe_load((REPO_ROOT / "manifests" / "crds" / "aggregationschedules.smartwatch.dev.yaml")
                         .read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spark = schema["properties"]["spec"]["properties"]["spark"]["properties"]
    assert spark["image"]["default"] == v["SPARK_IMAGE"]
    assert spark["sparkVersion"]["default"] == v["SPARK_VERSION"]


IMAGES = REPO_ROOT / "build" / "images"


def _build_args(dockerfile: str) -> dict[str, list[str]]:
    """Every `ARG NAME=default` of the Dockerfile, name -> defaults (a stage may repeat one)."""
    args: dict[str, list[str]] = {}
    for line in (IMAGES / dockerfile).read_text().splitlines():
        found = re.fullmatch(r"ARG\s+([A-Z_][A-Z0-9_]*)=(\S*)\s*", line.strip())
        if found:
            args.setdefault(found[1], []).append(found[2].strip("\"'"))
    return args


@pytest.mark.parametrize(("dockerfile", "pinned"), [
    ("smartwatch.Dockerfile", {"PYTHON_VERSION", "UV_VERSION"}),
    ("smartwatch-spark.Dockerfile", {"SPARK_IMAGE", "SPARK_VERSION", "SCALA_BINARY_VERSION",
                                     "POSTGRES_JDBC_VERSION", "PYTHON_VERSION", "UV_VERSION"}),
])
def test_dockerfile_build_args_default_to_the_pins(dockerfile: str, pinned: set[str]) -> None:
    v = versions()
    args = _build_args(dockerfile)
    assert pinned <= set(args), f"{dockerfile} lacks build args {sorted(pinned - set(args))}"
    for name, defaults in args.items():
        if name in v:
            assert set(defaults) == {v[name]}, f"{dockerfile}: ARG {name}={defaults} != versions.env"


def test_chart_defaults_are_the_pins() -> None:
    v = versions()
    values = yaml.safe_load((REPO_ROOT / "charts" / "smartwatch" / "values.yaml").read_text())
    assert str(values["kafka"]["version"]) == v["KAFKA_VERSION"]
    assert str(values["spark"]["version"]) == v["SPARK_VERSION"]
    assert values["postgres"]["embedded"]["image"]["repository"] == "postgres"
    assert str(values["postgres"]["embedded"]["image"]["tag"]) == v["POSTGRES_MAJOR"]
