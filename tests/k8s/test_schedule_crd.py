"""The AggregationSchedule CRD on a real kube-apiserver: the examples are accepted, the server
fills in the documented defaults, invalid specs are refused naming the field, kubectl explains
and lists schedules, status is a subresource; the operator's manifests pass a server dry run."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from smartwatch_dev.toolchain import REPO_ROOT, kube_bin, versions
from tests.k8s.conftest import SCHEDULE_CRD, apply_crds

pytestmark = pytest.mark.k8s

GROUP, VERSION, PLURAL = "smartwatch.dev", "v1alpha1", "aggregationschedules"
EXAMPLES = REPO_ROOT / "manifests" / "examples"
OPERATOR = REPO_ROOT / "manifests" / "operator"
CRD = yaml.safe_load(SCHEDULE_CRD.read_text())
CRD_VERSION = CRD["spec"]["versions"][0]
SPEC_SCHEMA = CRD_VERSION["schema"]["openAPIV3Schema"]["properties"]["spec"]

MINIMAL = {"granularity": "daily", "schedule": "30 2 * * *", "lake": "s3a://lake/events",
           "postgres": {"secretName": "smartwatch-postgres"}}


def _docs(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _schedule(name: str, spec: dict) -> dict:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AggregationSchedule",
            "metadata": {"name": name}, "spec": spec}


def _merged(base: dict, change: dict) -> dict:
    """base with change merged in; a None in change removes the key."""
    out = copy.deepcopy(base)
    for key, value in change.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merged(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def _contains(stored: object, given: object) -> bool:
    if isinstance(given, dict):
        return isinstance(stored, dict) and all(
            k in stored and _contains(stored[k], v) for k, v in given.items())
    return stored == given


def _kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(kube_bin("kubectl")), "--kubeconfig", str(kubeconfig), *args],
                          input=stdin, capture_output=True, text=True, timeout=60)


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def core(kube_client):
    from kubernetes import client

    return client.CoreV1Api(kube_client)


@pytest.fixture
def custom(kube_client, schedule_crd):
    from kubernetes import client

    return client.CustomObjectsApi(kube_client)


@pytest.fixture
def namespace(core) -> Iterator[str]:
    name = f"crd-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_example_is_accepted(path: Path, core, custom, namespace: str) -> None:
    for doc in _docs(path):
        doc["metadata"]["namespace"] = namespace
        name = doc["metadata"]["name"]
        if doc["kind"] == "Secret":
            core.create_namespaced_secret(namespace, doc)
            assert core.read_namespaced_secret(name, namespace).data.keys() == {"dsn"}
        else:
            assert doc["kind"] == "AggregationSchedule"
            custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, doc)
            stored = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
            # Nothing of the example was pruned as unknown.
            assert _contains(stored["spec"], doc["spec"]), stored["spec"]


def test_examples_cover_every_granularity_and_a_backfill() -> None:
    specs = [doc["spec"] for path in EXAMPLES.glob("*.yaml") for doc in _docs(path)
             if doc["kind"] == "AggregationSchedule"]
    assert {s["granularity"] for s in specs} == {"daily", "weekly", "monthly"}
    assert any("backfill" in s for s in specs)


def test_server_fills_in_the_documented_defaults(custom, namespace: str) -> None:
    v = versions()
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, _schedule("m", MINIMAL))
    stored = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "m")
    assert stored["spec"] == {
        "granularity": "daily", "schedule": "30 2 * * *", "lake": "s3a://lake/events",
        "timeZone": "UTC", "mode": "lookback", "lookback": 1, "suspend": False,
        "concurrencyPolicy": "Forbid", "startingDeadlineSeconds": 86400, "maxCatchUp": 10,
        "retry": {"limit": 3, "backoffSeconds": 60},
        "deadlines": {"startSeconds": 1800, "runSeconds": 21600},
        "successfulRunsHistoryLimit": 3, "failedRunsHistoryLimit": 1,
        "postgres": {"secretName": "smartwatch-postgres", "key": "dsn"},
        "spark": {
            "image": v["SPARK_IMAGE"], "sparkVersion": v["SPARK_VERSION"],
            "mainApplicationFile": "local:///opt/smartwatch/jobs/smartwatch_jobs/submit.py",
            "serviceAccount": "spark",
            "driver": {"cores": 1, "memory": "1g"},
            "executor": {"cores": 1, "memory": "1g", "instances": 1},
        },
    }


def test_backfill_max_concurrent_defaults_to_two(custom, namespace: str) -> None:
    spec = _merged(MINIMAL, {"backfill": {"from": "2026-01-01", "to": "2026-01-01"}})
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, _schedule("b", spec))
    stored = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "b")
    assert stored["spec"]["backfill"] == {"from": "2026-01-01", "to": "2026-01-01", "maxConcurrent": 2}


INVALID = {
    "unknown granularity": ({"granularity": "hourly"}, "spec.granularity"),
    "cron with 4 fields": ({"schedule": "30 2 * *"}, "spec.schedule"),
    "cron in words": ({"schedule": "every day"}, "spec.schedule"),
    "cron with 5 words": ({"schedule": "every day at two am"}, "spec.schedule"),
    "backfill from after to": ({"backfill": {"from": "2026-03-01", "to": "2026-01-31"}},
                               "spec.backfill.to"),
    "backfill over ten years": ({"backfill": {"from": "2010-01-01", "to": "2026-01-01"}},
                                "spec.backfill.to"),
    "backfill bad date": ({"backfill": {"from": "2026-02-30", "to": "2026-03-01"}},
                          "spec.backfill.from"),
    "lookback -1": ({"lookback": -1}, "spec.lookback"),
    "lookback 400": ({"lookback": 400}, "spec.lookback"),
    "maxConcurrent 0": ({"backfill": {"from": "2026-01-01", "to": "2026-01-02", "maxConcurrent": 0}},
                        "spec.backfill.maxConcurrent"),
    "bad timeZone": ({"timeZone": "Europe Berlin"}, "spec.timeZone"),
    "lake without scheme": ({"lake": "lake/events"}, "spec.lake"),
    "concurrencyPolicy Sometimes": ({"concurrencyPolicy": "Sometimes"}, "spec.concurrencyPolicy"),
    "missing postgres.secretName": ({"postgres": {"secretName": None}}, "spec.postgres.secretName"),
    "executor memory in words": ({"spark": {"executor": {"memory": "lots"}}},
                                 "spec.spark.executor.memory"),
}


def _refused_fields(err) -> list[str]:
    body = json.loads(err.body)
    return [cause.get("field") for cause in body["details"]["causes"]]


@pytest.mark.parametrize(("change", "field"), INVALID.values(), ids=INVALID.keys())
def test_invalid_spec_is_refused_naming_the_field(change: dict, field: str, custom, namespace: str) -> None:
    from kubernetes import client

    with pytest.raises(client.ApiException) as err:
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                               _schedule("bad", _merged(MINIMAL, change)))
    assert err.value.status == 422
    assert field in _refused_fields(err.value), err.value.body


def test_missing_required_fields_are_named(custom, namespace: str) -> None:
    from kubernetes import client

    with pytest.raises(client.ApiException) as err:
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                               _schedule("bare", {"granularity": "daily"}))
    assert err.value.status == 422
    assert {"spec.schedule", "spec.lake", "spec.postgres"} <= set(_refused_fields(err.value))


@pytest.mark.parametrize("schedule", ["30 2 * * *", "*/15 0-6,22 1,15 jan-mar MON-FRI",
                                      "0 3 * * 7", "  0  4 1 * *  "])
def test_cron_forms_are_accepted(schedule: str, custom, namespace: str) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                           _schedule("ok", {**MINIMAL, "schedule": schedule}))


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires",
                                  "America/Port-au-Prince", "Etc/GMT+5", "EST5EDT"])
def test_time_zones_are_accepted(zone: str, custom, namespace: str) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                           _schedule("ok", {**MINIMAL, "timeZone": zone}))


def test_an_update_that_fixes_an_invalid_patch_succeeds(custom, namespace: str) -> None:
    from kubernetes import client

    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, _schedule("m", MINIMAL))
    bad = {"spec": {"lookback": 400, "backfill": {"from": "2026-03-01", "to": "2026-01-01"}}}
    with pytest.raises(client.ApiException) as err:
        custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "m", bad)
    assert err.value.status == 422
    assert {"spec.lookback", "spec.backfill.to"} <= set(_refused_fields(err.value))
    fixed = {"spec": {"lookback": 30, "backfill": {"from": "2026-01-01", "to": "2026-03-01"}}}
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "m", fixed)
    stored = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "m")
    assert stored["spec"]["lookback"] == 30
    assert stored["spec"]["backfill"] == {"from": "2026-01-01", "to": "2026-03-01", "maxConcurrent": 2}


def test_status_is_a_subresource(custom, namespace: str) -> None:
    created = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                                     _schedule("m", MINIMAL))
    status = {"observedGeneration": 1, "nextRunTime": "2026-11-29T01:30:00Z",
              "lastSuccessfulWindow": "2026-11-27",
              "conditions": [{"type": "Ready", "status": "True", "reason": "Running",
                              "message": "", "lastTransitionTime": "2026-11-28T01:30:00Z",
                              "observedGeneration": 1}],
              "windows": [{"window": "2026-11-27", "start": "2026-11-27", "end": "2026-11-27",
                           "kind": "s", "state": "Succeeded", "attempts": 1,
                           "run": "m-s2026-11-27", "finishedTime": "2026-11-28T01:45:00Z"}],
              "extra": {"anything": ["the operator adds"]}}
    custom.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL, "m",
                                                 {"spec": {"lookback": 9}, "status": status})
    stored = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "m")
    assert stored["status"] == status
    assert stored["spec"] == created["spec"]
    assert stored["metadata"]["generation"] == created["metadata"]["generation"]
    # The main resource ignores status.
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "m",
                                          {"status": {"lastSuccessfulWindow": "2020-01-01"}})
    stored = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "m")
    assert stored["status"]["lastSuccessfulWindow"] == "2026-11-27"


def _explained(kubeconfig: Path, field: str, wanted: list[str]) -> str:
    """kubectl explain output once it holds every wanted text (the server publishes a new
    CRD's OpenAPI shortly after it is Established)."""
    deadline = time.monotonic() + 60
    while True:
        out = _kubectl(kubeconfig, "explain", field)
        text = _words(out.stdout)
        if out.returncode == 0 and all(_words(w) in text for w in wanted):
            return text
        if time.monotonic() > deadline:
            pytest.fail(f"kubectl explain {field} lacks descriptions:\n{out.stdout}{out.stderr}")
        time.sleep(0.5)


@pytest.mark.parametrize(("field", "path"), [
    ("aggregationschedule.spec", []),
    ("aggregationschedule.spec.backfill", ["backfill"]),
    ("aggsched.spec.spark.executor", ["spark", "executor"]),
])
def test_kubectl_explain_prints_the_descriptions(field: str, path: list[str], kubeconfig: Path,
                                                 schedule_crd) -> None:
    schema = SPEC_SCHEMA
    for name in path:
        schema = schema["properties"][name]
    wanted = [schema["description"]] + [p["description"] for p in schema["properties"].values()]
    _explained(kubeconfig, field, wanted)


def test_every_field_has_a_description() -> None:
    def undescribed(schema: dict, where: str) -> list[str]:
        missing = [] if "description" in schema else [where]
        for name, sub in schema.get("properties", {}).items():
            missing += undescribed(sub, f"{where}.{name}")
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                missing += undescribed(schema[key], f"{where}[{key}]")
        return missing

    root = CRD_VERSION["schema"]["openAPIV3Schema"]
    assert undescribed(root["properties"]["spec"], "spec") == []
    assert undescribed(root["properties"]["status"], "status") == []


def test_kubectl_get_prints_the_columns(kubeconfig: Path, custom, namespace: str) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                           _schedule("daily", {**MINIMAL, "timeZone": "Europe/Berlin"}))
    status = {"lastSuccessfulWindow": "2026-11-27", "nextRunTime": "2026-11-29T01:30:00Z",
              "dirtyDates": 4,
              "conditions": [{"type": "Scheduled", "status": "True"},
                             {"type": "Ready", "status": "True"}]}
    custom.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL, "daily",
                                                 {"status": status})
    expected = ["NAME"] + [c["name"].upper() for c in CRD_VERSION["additionalPrinterColumns"]]
    assert expected == ["NAME", "GRANULARITY", "SCHEDULE", "ZONE", "LAST SUCCESS", "NEXT RUN",
                        "DIRTY", "READY", "AGE"]
    for resource in ("aggsched", "smartwatch"):
        out = _kubectl(kubeconfig, "get", resource, "-n", namespace)
        assert out.returncode == 0, out.stderr
        header, row = (re.split(r"\s{2,}", line.strip()) for line in out.stdout.splitlines())
        assert header == expected
        assert row[:8] == ["daily", "daily", "30 2 * * *", "Europe/Berlin", "2026-11-27",
                           "2026-11-29T01:30:00Z", "4", "True"]


def _into_namespace(docs: list[dict], namespace: str) -> list[dict]:
    for doc in docs:
        if doc["metadata"].get("namespace"):
            doc["metadata"]["namespace"] = namespace
        for subject in doc.get("subjects", []):
            subject["namespace"] = namespace
    return docs


@pytest.mark.parametrize("path", sorted(OPERATOR.glob("*.yaml")), ids=lambda p: p.name)
def test_operator_manifest_passes_a_server_dry_run(path: Path, kubeconfig: Path, kube_client,
                                                   namespace: str) -> None:
    # The namespaced objects go into a fresh namespace: a dry run does not create smartwatch.
    docs = _into_namespace(_docs(path), namespace)
    # The CRDs the manifests use, the peering's among them (whatever ran before).
    apply_crds(kube_client, [path, REPO_ROOT / "manifests" / "crds" / "kopf-peerings.kopf.dev.yaml"])
    out = _kubectl(kubeconfig, "apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump_all(docs))
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("(server dry run)") == len(docs), out.stdout


def test_operator_manifests_are_one_namespace() -> None:
    docs = [doc for path in OPERATOR.glob("*.yaml") for doc in _docs(path)]
    namespaces = {doc["metadata"]["namespace"] for doc in docs if "namespace" in doc["metadata"]}
    namespaces |= {s["namespace"] for doc in docs for s in doc.get("subjects", [])}
    assert namespaces == {"smartwatch"}
    assert {"smartwatch"} == {d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"}


def test_operator_role_never_reads_secrets() -> None:
    (role,) = [doc for doc in _docs(OPERATOR / "rbac.yaml") if doc["kind"] == "ClusterRole"]
    for rule in role["rules"]:
        assert "*" not in rule["apiGroups"] + rule["resources"] + rule["verbs"], rule
        assert "secrets" not in rule["resources"], rule
