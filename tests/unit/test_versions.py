"""The pins that must agree do agree: versions.env, pyproject.toml, uv.lock, the
AggregationSchedule CRD's Spark defaults, the images' build args and the chart's defaults."""

import re
import tomllib

import pytest
import yaml

from smartwatch_dev.toolchain import REPO_ROOT, SCHEDULE_CRD, versions

pytestmark = pytest.mark.unit


def _locked(name: str) -> str:
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    return next(p["version"] for p in lock["package"] if p["name"] == name)


def test_pyspark_matches_spark_version() -> None:
    v = versions()
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert f'"pyspark=={v["SPARK_VERSION"]}"' in pyproject
    assert _locked("pyspark") == v["SPARK_VERSION"]


def test_spark_image_is_the_projects_at_its_version() -> None:
    v = versions()
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert v["SPARK_IMAGE"] == f"smartwatch-spark:{project}"


def test_hadoop_aws_matches_the_hadoop_pyspark_ships() -> None:
    """hadoop-aws must be the release of the hadoop-client jars Spark runs on: the pin is
    checked against pyspark's own dependency list (its installed jars when present)."""
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        pytest.skip("pyspark is not installed")
    from pathlib import Path

    jars = {p.name for p in (Path(spec.origin).parent / "jars").glob("hadoop-client-api-*.jar")}
    assert jars == {f"hadoop-client-api-{versions()['HADOOP_VERSION']}.jar"}


def test_kind_node_image_is_the_kubernetes_release() -> None:
    v = versions()
    assert v["KIND_NODE_IMAGE"].endswith(f":v{v['KUBERNETES_VERSION']}")


def test_every_pin_is_a_plain_version() -> None:
    for name, value in versions().items():
        if name.endswith("_VERSION") or name == "POSTGRES_MAJOR":
            assert re.fullmatch(r"\d+(\.\d+)*", value), f"{name}={value!r}"


def test_schedule_crd_spark_defaults_are_the_pins() -> None:
    v = versions()
    crd = yaml.safe_load(SCHEDULE_CRD.read_text())
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
    ("smartwatch-spark.Dockerfile", {"SPARK_VERSION", "PYTHON_VERSION", "UV_VERSION"}),
    ("smartwatch-postgres.Dockerfile", {"POSTGRES_MAJOR"}),
    ("smartwatch-kafka.Dockerfile", set()),
    ("smartwatch-objectstore.Dockerfile", set()),
])
def test_dockerfile_build_args_default_to_the_pins(dockerfile: str, pinned: set[str]) -> None:
    v = versions()
    args = _build_args(dockerfile)
    assert pinned <= set(args), f"{dockerfile} lacks build args {sorted(pinned - set(args))}"
    for name, defaults in args.items():
        if name in v:
            assert set(defaults) == {v[name]}, f"{dockerfile}: ARG {name}={defaults} != versions.env"
    if "JAVA_RELEASE" in args:
        assert set(args["JAVA_RELEASE"]) <= set(v["SPARK_JAVA_RELEASES"].split(","))
    if dockerfile != "smartwatch.Dockerfile":  # Debian bases of the pinned release
        assert args["BASE"] == [f"debian:{v['DEBIAN_SUITE']}-slim"]


def test_chart_defaults_are_the_pins() -> None:
    v = versions()
    values = yaml.safe_load((REPO_ROOT / "charts" / "smartwatch" / "values.yaml").read_text())
    assert str(values["kafka"]["version"]) == v["KAFKA_VERSION"]
    assert str(values["spark"]["version"]) == v["SPARK_VERSION"]
    # The embedded dependencies are the project's images at the chart's appVersion; their
    # pins are the Dockerfiles' build args (above).
    for image in (values["postgres"]["embedded"]["image"], values["kafka"]["embedded"]["image"],
                  values["objectStore"]["embedded"]["image"]):
        assert image["repository"].startswith("smartwatch-") and image["tag"] == ""
