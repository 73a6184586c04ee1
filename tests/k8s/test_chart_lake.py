"""The lake on object storage (lake.s3: S3A settings in the SparkApplications' sparkConf, keys
from a Secret), a file:// lake on a shared claim, the embedded object store (StatefulSet,
generated keys, the bucket Job), and the embedded Postgres image. Server-side validation of
these renderings: test_chart.py (CASES)."""

from __future__ import annotations

import pytest

from tests.k8s.chart import APP_VERSION, CASES, RELEASE, container_env, one_object, render, sets

pytestmark = pytest.mark.helm

NS = "smartwatch"
STORE = sets("objectStore.embedded.enabled=true")
ENDPOINT = "spark.hadoop.fs.s3a.endpoint"
PATH_STYLE = "spark.hadoop.fs.s3a.path.style.access"
REGION = "spark.hadoop.fs.s3a.endpoint.region"


def _landing(docs: list[dict]) -> dict:
    return one_object(docs, "SparkApplication")["spec"]


def _schedule_confs(docs: list[dict]) -> list[dict]:
    return [d["spec"]["spark"].get("sparkConf", {}) for d in docs if d["kind"] == "AggregationSchedule"]


def test_an_s3_lake_gets_its_region_and_addressing_by_default() -> None:
    docs = render([])
    conf = _landing(docs)["sparkConf"]
    assert conf == {PATH_STYLE: "false", REGION: "us-east-1"}  # AWS: no endpoint
    for role in ("driver", "executor"):
        env = container_env(_landing(docs)[role])
        assert env["SMARTWATCH_QUARANTINE_URI"]["value"] == "s3a://smartwatch-lake/quarantine"
        assert env["SMARTWATCH_CHECKPOINT_URI"]["value"] == "s3a://smartwatch-lake/checkpoints/landing"
        assert "AWS_ACCESS_KEY_ID" not in env  # no Secret: a cloud identity on the ServiceAccount
    for schedule in _schedule_confs(docs):
        assert {PATH_STYLE: "false", REGION: "us-east-1"}.items() <= schedule.items()


def test_lake_s3_values_become_s3a_settings_and_secret_env() -> None:
    docs = render(sets("lake.s3.endpoint=https://minio.example:9000", "lake.s3.region=eu-central-1",
                       "lake.s3.pathStyleAccess=true", "lake.s3.existingSecret=lake-keys",
                       "lake.s3.accessKeyKey=id", "lake.s3.secretKeyKey=key"))
    expected = {ENDPOINT: "https://minio.example:9000", PATH_STYLE: "true", REGION: "eu-central-1"}
    assert _landing(docs)["sparkConf"] == expected
    for schedule in _schedule_confs(docs):
        assert expected.items() <= schedule.items()
    for role in ("driver", "executor"):
        env = container_env(_landing(docs)[role])
        for name, key in (("AWS_ACCESS_KEY_ID", "id"), ("AWS_SECRET_ACCESS_KEY", "key")):
            ref = {"secretKeyRef": {"name": "lake-keys", "key": key}}
            assert env[name] == {"name": name, "valueFrom": ref}
    assert not [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "lake-keys"]


def test_the_users_spark_conf_wins_over_the_derived_settings() -> None:
    docs = render(sets("lake.s3.endpoint=https://a.example",
                       "spark.sparkConf.spark\\.hadoop\\.fs\\.s3a\\.endpoint=https://b.example",
                       "landing.sparkConf.spark\\.hadoop\\.fs\\.s3a\\.endpoint\\.region=ap-south-1"))
    conf = _landing(docs)["sparkConf"]
    assert conf[ENDPOINT] == "https://b.example" and conf[REGION] == "ap-south-1"
    for schedule in _schedule_confs(docs):
        assert schedule[ENDPOINT] == "https://b.example" and schedule[REGION] == "us-east-1"
    monthly = one_object(docs, "AggregationSchedule", f"{RELEASE}-monthly")["spec"]["spark"]["sparkConf"]
    assert monthly["spark.sql.shuffle.partitions"] == "64"  # a schedule's own settings stay


@pytest.mark.parametrize(("uri", "quarantine", "checkpoint"), [
    ("s3a://b/events", "s3a://b/quarantine", "s3a://b/checkpoints/landing"),
    ("s3a://b/a/events/", "s3a://b/a/quarantine", "s3a://b/a/checkpoints/landing"),
    ("s3a://b", "s3a://b/quarantine", "s3a://b/checkpoints/landing"),
    ("file:///lake/events", "file:///lake/quarantine", "file:///lake/checkpoints/landing"),
    ("hdfs://nn:8020/sw/events", "hdfs://nn:8020/sw/quarantine", "hdfs://nn:8020/sw/checkpoints/landing"),
])
def test_quarantine_and_checkpoint_default_beside_the_lake(uri: str, quarantine: str,
                                                           checkpoint: str) -> None:
    env = container_env(_landing(render(sets(f"lake.uri={uri}")))["driver"])
    assert (env["SMARTWATCH_QUARANTINE_URI"]["value"], env["SMARTWATCH_CHECKPOINT_URI"]["value"]) == (
        quarantine, checkpoint)
    options = sets(f"lake.uri={uri}", "lake.quarantineUri=s3a://q/x", "lake.checkpointUri=s3a://c/y")
    set_explicitly = container_env(_landing(render(options))["driver"])
    assert set_explicitly["SMARTWATCH_QUARANTINE_URI"]["value"] == "s3a://q/x"
    assert set_explicitly["SMARTWATCH_CHECKPOINT_URI"]["value"] == "s3a://c/y"


def test_a_file_lake_mounts_its_shared_claim_and_gets_no_s3_settings() -> None:
    docs = render(CASES["file-lake"])
    spec = _landing(docs)
    assert "sparkConf" not in spec
    assert spec["volumes"] == [{"name": "lake", "persistentVolumeClaim": {"claimName": "lake-rwx"}}]
    for role in ("driver", "executor"):
        assert spec[role]["volumeMounts"] == [{"name": "lake", "mountPath": "/lake"}]
    assert "volumes" not in _landing(render([]))


# --- the embedded object store -------------------------------------------------------------------

def test_embedded_object_store_contract() -> None:
    docs = render(STORE)
    name = f"{RELEASE}-objectstore"
    secret = one_object(docs, "Secret", name)
    assert set(secret["data"]) == {"accessKey", "secretKey"}
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"

    sts = one_object(docs, "StatefulSet", name)
    assert sts["spec"]["replicas"] == 1
    pod = sts["spec"]["template"]["spec"]
    (store,) = pod["containers"]
    assert store["image"] == f"smartwatch-objectstore:{APP_VERSION}"
    assert store["args"] == ["server"]
    env = container_env(store)
    assert env["S3_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {"name": name, "key": "accessKey"}
    assert env["S3_SECRET_KEY"]["valueFrom"]["secretKeyRef"] == {"name": name, "key": "secretKey"}
    assert {m["mountPath"]: m["name"] for m in store["volumeMounts"]} == {"/data": "data", "/tmp": "tmp"}
    assert [c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]] == ["data"]
    assert store["ports"] == [{"name": "s3", "containerPort": 8333, "protocol": "TCP"}]
    assert env["S3_MIN_FREE_SPACE"]["value"] == "1"
    assert store["readinessProbe"]["exec"]["command"] == ["smartwatch-objectstore", "ready"]
    assert store["livenessProbe"]["tcpSocket"]["port"] == "s3"
    assert pod["securityContext"]["runAsUser"] == 10001 and store["securityContext"]["readOnlyRootFilesystem"]
    service = one_object(docs, "Service", name)
    assert [(p["name"], p["port"]) for p in service["spec"]["ports"]] == [("s3", 8333)]

    # The landing job and the schedules reach it, path-style, with its keys.
    endpoint = f"http://{name}.{NS}.svc:8333"
    assert _landing(docs)["sparkConf"] == {ENDPOINT: endpoint, PATH_STYLE: "true", REGION: "us-east-1"}
    for schedule in _schedule_confs(docs):
        assert schedule[ENDPOINT] == endpoint and schedule[PATH_STYLE] == "true"
    for role in ("driver", "executor"):
        role_env = container_env(_landing(docs)[role])
        for variable, key in (("AWS_ACCESS_KEY_ID", "accessKey"), ("AWS_SECRET_ACCESS_KEY", "secretKey")):
            assert role_env[variable]["valueFrom"]["secretKeyRef"] == {"name": name, "key": key}


def test_the_bucket_job_is_a_restricted_hook_that_creates_the_lake_bucket() -> None:
    docs = render(STORE)
    job = one_object(docs, "Job", f"{RELEASE}-objectstore-bucket")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "post-install,post-upgrade"
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    assert job["spec"]["backoffLimit"] == 6 and job["spec"]["activeDeadlineSeconds"] == 900
    pod = job["spec"]["template"]["spec"]
    assert job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE
    (container,) = pod["containers"]
    assert container["args"] == ["bucket", "smartwatch-lake"]
    env = container_env(container)
    assert env["S3_ENDPOINT"]["value"] == f"http://{RELEASE}-objectstore:8333"
    assert env["S3_REGION"]["value"] == "us-east-1"
    assert env["S3_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == f"{RELEASE}-objectstore"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_the_bucket_job_creates_every_bucket_of_the_lake_uris() -> None:
    job = one_object(render(CASES["embedded-everything"]), "Job", f"{RELEASE}-objectstore-bucket")
    args = [c["args"] for c in job["spec"]["template"]["spec"]["containers"]]
    assert args == [["bucket", "lake-a"], ["bucket", "lake-b"]]


def test_the_object_store_can_use_a_secret_you_manage() -> None:
    docs = render([*STORE, *sets("lake.s3.existingSecret=mine", "lake.s3.accessKeyKey=a")])
    assert not [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"].endswith("objectstore")]
    store = one_object(docs, "StatefulSet",
                       f"{RELEASE}-objectstore")["spec"]["template"]["spec"]["containers"][0]
    assert container_env(store)["S3_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "mine", "key": "a"}
    assert container_env(_landing(docs)["driver"])["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"] == {
        "name": "mine", "key": "a"}


def test_embedded_object_store_values_reach_it() -> None:
    docs = render([*STORE, *sets("objectStore.embedded.image.repository=r.example/os",
                                 "objectStore.embedded.image.tag=7", "objectStore.embedded.storage.size=1Gi",
                                 "objectStore.embedded.bucketJob.backoffLimit=2",
                                 "lake.s3.region=eu-west-3")])
    sts = one_object(docs, "StatefulSet", f"{RELEASE}-objectstore")
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == "r.example/os:7"
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "1Gi"
    job = one_object(docs, "Job", f"{RELEASE}-objectstore-bucket")
    assert job["spec"]["backoffLimit"] == 2
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "r.example/os:7"
    job_env = container_env(job["spec"]["template"]["spec"]["containers"][0])
    assert job_env["S3_REGION"]["value"] == "eu-west-3"


# --- the embedded Postgres image -----------------------------------------------------------------

def test_embedded_postgres_runs_the_project_image_by_default() -> None:
    docs = render(sets("postgres.embedded.enabled=true"))
    pod = one_object(docs, "StatefulSet", f"{RELEASE}-postgres")["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == f"smartwatch-postgres:{APP_VERSION}"
    assert pod["securityContext"]["runAsUser"] == 999
    assert set(container_env(pod["containers"][0])) == {"POSTGRES_USER", "POSTGRES_DB",
                                                        "POSTGRES_PASSWORD", "PGDATA"}
    secret = one_object(docs, "Secret", f"{RELEASE}-postgres")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    official = render(sets("postgres.embedded.enabled=true", "postgres.embedded.image.repository=postgres",
                           "postgres.embedded.image.tag=15"))
    (container,) = one_object(official, "StatefulSet")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "postgres:15"
    # A DSN from values is not kept after uninstall: only the generated password is.
    assert "annotations" not in one_object(render([]), "Secret", f"{RELEASE}-postgres")["metadata"]
