"""The image builder's pure parts: Maven dependencies with exclusions, artifact names of jar
files, and tags that follow what an image is made of."""

import pytest

from smartwatch_dev.stack import images

pytestmark = pytest.mark.unit


def test_a_dependency_with_exclusions() -> None:
    xml = images._dependency("org.apache.hadoop:hadoop-aws:3.5.0!software.amazon.awssdk:bundle,a:b")
    assert xml == ("<dependency><groupId>org.apache.hadoop</groupId><artifactId>hadoop-aws"
                   "</artifactId><version>3.5.0</version><exclusions><exclusion><groupId>"
                   "software.amazon.awssdk</groupId><artifactId>bundle</artifactId></exclusion>"
                   "<exclusion><groupId>a</groupId><artifactId>b</artifactId></exclusion>"
                   "</exclusions></dependency>")


@pytest.mark.parametrize(("jar", "artifact"), [
    ("hadoop-client-api-3.5.0.jar", "hadoop-client-api"),
    ("spark-sql-kafka-0-10_2.13-4.2.0.jar", "spark-sql-kafka-0-10_2.13"),
    ("wildfly-openssl-2.2.5.Final.jar", "wildfly-openssl"),
    ("s3-2.35.4.jar", "s3"),
    ("kafka_2.13-4.2.1.jar", "kafka_2.13"),
])
def test_the_artifact_of_a_jar(jar: str, artifact: str) -> None:
    assert images._artifact(jar) == artifact


def test_every_image_has_its_dockerfile_and_files() -> None:
    from smartwatch_dev.toolchain import REPO_ROOT

    for name, image in images.IMAGES.items():
        assert (REPO_ROOT / image.dockerfile).is_file(), name
        if image.files:
            assert (REPO_ROOT / "build" / "images" / image.files).is_dir(), name


def test_the_tag_follows_the_base_and_the_files(monkeypatch, tmp_path) -> None:
    a = images.image_ref("smartwatch-postgres", "base:1")
    assert a == images.image_ref("smartwatch-postgres", "base:1")
    assert a != images.image_ref("smartwatch-postgres", "base:2")
    assert a.startswith("smartwatch/smartwatch-postgres:")
    script = tmp_path / "smartwatch-postgres"
    script.write_text("changed")
    monkeypatch.setattr(images, "_context_files", lambda image: {"postgres/x": script})
    assert images.image_ref("smartwatch-postgres", "base:1") != a


def test_the_release_sets_each_images_values() -> None:
    from smartwatch_dev.stack.release import IMAGE_VALUES, Release

    assert set(IMAGE_VALUES) == {n for n, i in images.IMAGES.items() if i.chart}
    sets = Release(cluster=None).image_values({"smartwatch-kafka": "smartwatch/smartwatch-kafka:abc"})  # type: ignore[arg-type]
    assert sets == ["--set", "kafka.embedded.image.repository=smartwatch/smartwatch-kafka",
                    "--set", "kafka.embedded.image.tag=abc",
                    "--set", "kafka.embedded.image.pullPolicy=Never"]


def test_old_archives_of_one_image_go_and_other_images_stay(tmp_path) -> None:
    import os

    names = ["smartwatch_smartwatch-aaaaaaaaaaa1.tar", "smartwatch_smartwatch-aaaaaaaaaaa2.tar",
             "smartwatch_smartwatch-aaaaaaaaaaa3.tar", "smartwatch_smartwatch-aaaaaaaaaaa4.tar",
             "smartwatch_smartwatch-spark-bbbbbbbbbbbb.tar",
             "smartwatch_smartwatch-kafka-cccccccccccc.tar"]
    for i, name in enumerate(names):
        (tmp_path / name).write_text("")
        os.utime(tmp_path / name, (1000 + i, 1000 + i))
    images._keep_archives("smartwatch", tmp_path / names[3])
    # the current one and the newest other (KEEP_ARCHIVES 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[2:])
