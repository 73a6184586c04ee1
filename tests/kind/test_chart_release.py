"""The chart on the real kind cluster, installed as `smartwatch cluster install` does it
(charts/smartwatch/ci/kind.yaml: embedded Kafka, Postgres and object store, auth on, the
project's images built here): it comes up Ready; readings sent through the API Service arrive
in the in-cluster topic exactly; a Spark pod reads and writes the lake through s3a://; an
upgrade rolls the API under load without one failed request; rollback and uninstall behave as
docs/deploy.md says. The tests run in file order on one release."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smartwatch_dev import toolchain
from smartwatch_dev.simulate.fleet import Fleet, Reading
from smartwatch_dev.simulate.send import Sender, register, send_all
from smartwatch_dev.stack import images
from smartwatch_dev.stack.cluster import Cluster
from smartwatch_dev.stack.release import CHART, Release
from tests.kind.chart_release import Installed, delete_test_pods, port_forward, run_pod, wait_gone
from tests.kind.conftest import Kube

pytestmark = pytest.mark.kind

#: The bound on `helm install --wait` with ci/kind.yaml (docs/deploy.md has the measured time).
INSTALL_TIMEOUT = 600
SHAPES = ("canonical", "legacy-a", "legacy-b")


@pytest.fixture(scope="module")
def installed(kind_cluster: Cluster) -> Iterator[Installed]:
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    kube = Kube(kind_cluster, namespace)
    release = Release(kind_cluster, "smartwatch", namespace)
    refs = images.build_all(kind_cluster, report=print)
    try:
        notes, seconds = release.install(refs, timeout=INSTALL_TIMEOUT)
        print(f"helm install with ci/kind.yaml: Ready in {seconds:.0f} s")
        yield Installed(release, refs, notes, seconds, kube)
    finally:
        release.helm("uninstall", release.name, "--wait", "--timeout", "300s", check=False)
        kube("delete", "namespace", namespace, "--wait=false", namespaced=False, check=False)


def api_service(installed: Installed) -> tuple[str, int]:
    svc = installed.find("Service", "api")
    return f"svc/{svc['metadata']['name']}", int(svc["spec"]["ports"][0]["port"])


def kafka_pod(installed: Installed) -> str:
    return f"{installed.name('StatefulSet', 'kafka')}-0"


def topic_values(installed: Installed, topic: str = "smartwatch.events") -> list[dict[str, Any]]:
    """Every record of the in-cluster topic, read by Kafka's console consumer in the broker's
    pod."""
    done = installed.kube(
        "exec", kafka_pod(installed), "--", "java", "-Xmx256m", "-cp", "/opt/kafka/libs/*",
        "org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server",
        "127.0.0.1:9092", "--topic", topic, "--from-beginning", "--timeout-ms", "15000",
        timeout=180, check=False)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_install_comes_up_ready_within_its_bound(installed: Installed) -> None:
    assert installed.seconds < INSTALL_TIMEOUT
    pods = installed.kube.json("pods")["items"]
    running = [p for p in pods if p["status"].get("phase") == "Running"]
    kinds = {p["metadata"]["labels"].get("app.kubernetes.io/component") for p in running}
    assert {"api", "operator", "kafka", "postgres", "objectstore"} <= kinds, kinds
    for pod in running:
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready["Ready"] == "True", pod["metadata"]["name"]
    # The bucket Job ran to completion (its hook is deleted once it succeeded).
    assert not [j for j in installed.kube.json("jobs")["items"]
                if not j["status"].get("succeeded")]


def test_no_running_container_is_root_writable_or_privileged(installed: Installed) -> None:
    """Checked inside each running container, not in the YAML: its uid, whether / takes a
    file, and its effective capabilities."""
    probe = ("id -u; (: >/probe-$$ && echo writable) 2>&1 | grep -o -e writable -e 'Read-only' "
             "| head -1; grep CapEff /proc/self/status | cut -f2")
    seen = 0
    for pod in installed.kube.json("pods")["items"]:
        if pod["status"].get("phase") != "Running":
            continue
        for container in pod["spec"]["containers"]:
            out = installed.kube("exec", pod["metadata"]["name"], "-c", container["name"], "--",
                                 "bash", "-c", probe).stdout.split()
            where = f"{pod['metadata']['name']}/{container['name']}"
            assert out[0] != "0", f"{where} runs as root"
            assert out[1] == "Read-only", f"{where} has a writable root filesystem"
            assert int(out[2], 16) == 0, f"{where} has capabilities {out[2]}"
            seen += 1
    assert seen >= 6  # two API pods, the operator, Kafka, Postgres, the object store


def _readings(prefix: str) -> list[Reading]:
    """Six watches in the default zones for a day, one reading every 15 minutes."""
    fleet = Fleet(devices=6, days=1, cadence=900, prefix=prefix, seed=7,
                  start=dt.datetime(2026, 3, 28))
    return list(fleet.stream(fleet.first_instant())[1])


def _canonical(event: dict[str, Any]) -> tuple[Any, ...]:
    instant = dt.datetime.fromisoformat(str(event["measured_at"]).replace("Z", "+00:00"))
    return (event["device_id"], instant.astimezone(dt.UTC), event.get("heart_rate_bpm"),
            event.get("steps"), event.get("sleep_state"))


@pytest.fixture(scope="module")
def device_tokens(installed: Installed) -> dict[str, str]:
    return {}


def test_readings_in_all_shapes_arrive_in_the_topic_as_sent(installed: Installed,
                                                            device_tokens: dict[str, str]) -> None:
    prefix = f"k{uuid.uuid4().hex[:5]}"
    readings = _readings(prefix)
    users = sorted({r.user for r in readings}, key=lambda u: u.device_id)
    shape_of = {u.device_id: SHAPES[i % 3] for i, u in enumerate(users)}
    target, port = api_service(installed)
    with port_forward(installed.kube, target, port) as url:
        tokens = asyncio.run(register(url, installed.admin_token(), users))
        device_tokens.update(tokens)
        sender = Sender(url, tokens, concurrency=2, quiet=True)
        by_device: dict[str, list[dict]] = {}
        for r in readings:
            by_device.setdefault(r.user.device_id, []).append(r.as_shape(shape_of[r.user.device_id]))
        asyncio.run(send_all(sender, [(d, evs[i:i + 50]) for d, evs in by_device.items()
                                      for i in range(0, len(evs), 50)]))
    assert (sender.sent, sender.rejected) == (len(readings), 0)
    got = [e for e in topic_values(installed) if str(e.get("device_id", "")).startswith(prefix)]
    expected = Counter((r.user.device_id, r.measured_at, r.heart_rate_bpm, r.steps,
                        r.sleep_state.value) for r in readings)
    assert Counter(_canonical(e) for e in got) == expected
    # Canonical events keep their ids; the others get the API's derived, distinct ids.
    ids = {e["event_id"] for e in got}
    assert len(ids) == len(got)
    assert {r.event_id() for r in readings if shape_of[r.user.device_id] == "canonical"} <= ids
    assert {shape_of[e["device_id"]] for e in got} == set(SHAPES)


@pytest.mark.parametrize(("body", "content_type", "status", "words"), [
    (b'{"device_id": ', "application/json", 400, "not valid JSON"),
    (b'{"device_id": "@", "measured_at": "2026-03-28T10:00:00Z", "heart_rate_bpm": 999}\n',
     "application/x-ndjson", 422, "heart_rate_bpm"),
    (b'{"device_id": "someone-else", "measured_at": "2026-03-28T10:00:00Z", "steps": 1}\n',
     "application/x-ndjson", 403, "someone-else"),
    (b"device_id=x", "text/plain", 415, "text/plain"),
])
def test_a_bad_batch_gets_its_precise_answer_from_the_pod(
        installed: Installed, device_tokens: dict[str, str], body: bytes, content_type: str,
        status: int, words: str) -> None:
    device, token = sorted(device_tokens.items())[0]
    target, port = api_service(installed)
    with port_forward(installed.kube, target, port) as url:
        r = httpx.post(f"{url}/v1/events", content=body.replace(b"@", device.encode()),
                       headers={"content-type": content_type, "authorization": f"Bearer {token}"})
        unauthorized = httpx.post(f"{url}/v1/events", content=b"{}",
                                  headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert words in r.text
    assert unauthorized.status_code == 401 and "Bearer" in unauthorized.text


S3_PROBE = """
import json, sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
path = sys.argv[1]
spark.range(1000).selectExpr("id", "id * 2 AS twice").write.mode("overwrite").parquet(path)
back = spark.read.parquet(path)
print(json.dumps({"rows": back.count(), "sum": back.groupBy().sum("twice").first()[0],
                  "files": len(back.inputFiles())}))
"""


def _store_state(installed: Installed) -> str:
    """The object store's restarts and its last log lines, for a failed write's message."""
    pod = f"{installed.name('StatefulSet', 'objectstore')}-0"
    status = installed.kube.json("pod", pod)["status"].get("containerStatuses", [{}])[0]
    logs = installed.kube("logs", pod, "--tail=40", check=False).stdout
    return f"\n--- {pod}: {status.get('restartCount')} restarts, {status.get('lastState')}\n{logs}"


def test_a_spark_pod_writes_and_reads_parquet_on_the_object_store(installed: Installed) -> None:
    secret = installed.name("Secret", "objectstore")
    store = installed.find("Service", "objectstore")
    endpoint = f"http://{store['metadata']['name']}:{store['spec']['ports'][0]['port']}"
    installed.kube.apply(json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                     "metadata": {"name": "s3-probe"},
                                     "data": {"probe.py": S3_PROBE}}))
    env = [{"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
           for name, key in (("AWS_ACCESS_KEY_ID", "accessKey"),
                             ("AWS_SECRET_ACCESS_KEY", "secretKey"))]
    conf = {"spark.master": "local[1]", "spark.driver.memory": "512m",
            "spark.hadoop.fs.s3a.endpoint": endpoint,
            "spark.hadoop.fs.s3a.path.style.access": "true",
            "spark.hadoop.fs.s3a.endpoint.region": "us-east-1",
            "spark.ui.enabled": "false", "spark.local.dir": "/tmp"}
    command = ["spark-submit", *(x for k, v in conf.items() for x in ("--conf", f"{k}={v}")),
               "/probe/probe.py", f"s3a://smartwatch-lake/probe/{uuid.uuid4().hex[:8]}"]
    phase, code, logs = run_pod(
        installed.kube, "s3a-probe", installed.refs["smartwatch-spark"], command=command,
        env=[*env, {"name": "HOME", "value": "/tmp"}], labels=installed.labels,
        volumes=[{"name": "probe", "configMap": {"name": "s3-probe"}}],
        mounts=[{"name": "probe", "mountPath": "/probe"}], timeout=400)
    assert (phase, code) == ("Succeeded", 0), logs[-3000:] + _store_state(installed)
    result = json.loads(next(line for line in logs.splitlines() if line.startswith('{"rows"')))
    assert result["rows"] == 1000 and result["sum"] == sum(2 * i for i in range(1000))
    assert result["files"] >= 1


def test_a_spark_pod_missing_a_setting_stops_naming_it(installed: Installed) -> None:
    phase, code, logs = run_pod(
        installed.kube, "spark-missing", installed.refs["smartwatch-spark"],
        command=["python", "/opt/smartwatch/jobs/smartwatch_jobs/submit.py", "land"])
    assert phase == "Failed" and code != 0
    assert logs.startswith("smartwatch land: missing settings: SMARTWATCH_KAFKA_BOOTSTRAP")
    assert len(logs.splitlines()) == 1, logs


CONNECT = ("import socket, sys\ns = socket.socket()\ns.settimeout(5)\n"
           "print('open' if s.connect_ex((sys.argv[1], int(sys.argv[2]))) == 0 else 'closed')\n")


def test_the_dependencies_take_connections_from_the_release_only(installed: Installed) -> None:
    """With NetworkPolicies on (ci/kind.yaml): a pod of the release reaches Postgres, a pod
    without the release's labels does not, where the cluster's network enforces them."""
    svc = installed.find("Service", "postgres")
    host, port = svc["metadata"]["name"], str(svc["spec"]["ports"][0]["port"])
    image = installed.refs["smartwatch"]
    results = {}
    for name, labels in (("inside", installed.labels), ("outside", {})):
        phase, code, logs = run_pod(installed.kube, f"reach-{name}", image,
                                    command=["python", "-c", CONNECT, host, port], labels=labels)
        assert (phase, code) == ("Succeeded", 0), logs
        results[name] = logs
    assert results["inside"] == "open"
    if results["outside"] == "open":
        pytest.skip("this cluster's network does not enforce NetworkPolicies (the local node "
                    "image's ptp plugin has no policy engine); the policies are checked as "
                    "rendered by the chart tests")
    assert results["outside"] == "closed"


def _notes_commands(notes: str) -> list[str]:
    """The commands NOTES.txt prints: its lines indented by two spaces."""
    start = notes.find("NOTES:")
    return [line.strip() for line in notes[start:].splitlines()
            if line.startswith("  ") and line.strip() and not line.strip().startswith("#")]


def test_every_command_the_notes_print_works(installed: Installed, tmp_path: Path) -> None:
    commands = _notes_commands(installed.notes)
    assert any("port-forward" in c for c in commands) and any("curl" in c for c in commands)
    env = {"PATH": f"{toolchain.kube_bin('kubectl').parent}:/usr/bin:/bin",
           "KUBECONFIG": str(installed.release.cluster.kubeconfig), "HOME": str(tmp_path)}
    forwards: list[subprocess.Popen[str]] = []
    try:
        for command in commands:
            if "port-forward" in command:
                proc = subprocess.Popen(["bash", "-c", command], env=env, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                forwards.append(proc)
                assert proc.stdout is not None
                line = proc.stdout.readline()
                assert "Forwarding from" in line, f"{command}: {line}"
                continue
            done = subprocess.run(["bash", "-o", "pipefail", "-c", command], env=env, text=True,
                                  capture_output=True, timeout=120)
            assert done.returncode == 0, f"{command}\n{done.stdout}{done.stderr}"
            assert "error" not in done.stdout.lower(), f"{command}\n{done.stdout}"
    finally:
        for proc in forwards:
            proc.terminate()
            proc.wait(timeout=30)


CLIENT = """
import json, os, sys, time, urllib.error, urllib.request
url, token, device = sys.argv[1], sys.argv[2], sys.argv[3]
acked, failures, n = [], [], 0
while not os.path.exists("/tmp/stop"):
    ids = [f"{device}-{n + i}" for i in range(10)]
    n += 10
    body = "".join(json.dumps({"event_id": i, "device_id": device, "steps": 1,
                               "measured_at": "2026-03-28T12:00:00Z"}) + "\\n" for i in ids)
    request = urllib.request.Request(url + "/v1/events", data=body.encode(), headers={
        "content-type": "application/x-ndjson", "authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            answer = json.load(r)
        if answer["accepted"] == 10:
            acked += ids
        else:
            failures.append(str(answer)[:200])
    except Exception as exc:
        failures.append(repr(exc)[:200])
    time.sleep(0.05)
print(json.dumps({"acked": acked, "failures": failures}))
"""


def test_an_upgrade_rolls_the_api_without_one_failed_request(
        installed: Installed, device_tokens: dict[str, str]) -> None:
    kube, release = installed.kube, installed.release
    device, token = sorted(device_tokens.items())[-1]
    svc = installed.find("Service", "api")
    url = f"http://{svc['metadata']['name']}:{svc['spec']['ports'][0]['port']}"
    run_pod(kube, "upgrade-client", installed.refs["smartwatch"], wait=False,
            command=["python", "-c", CLIENT, url, token, device])
    kube("wait", "--for=condition=Ready", "pod/upgrade-client", "--timeout=120s", timeout=150)
    time.sleep(5)
    before = {p["metadata"]["name"] for p in kube.json("pods", "-l",
                                                       "app.kubernetes.io/component=api")["items"]}
    release.helm("upgrade", release.name, str(CHART), "--reuse-values", "--wait",
                 "--timeout", "300s", "--set", "api.env.SMARTWATCH_RETRY_AFTER_SECONDS=7")
    deployment = installed.name("Deployment", "api")
    kube("rollout", "status", f"deployment/{deployment}", "--timeout=300s", timeout=330)
    time.sleep(5)
    kube("exec", "upgrade-client", "--", "touch", "/tmp/stop")
    phase = kube.wait_pod_done("upgrade-client", timeout=120)
    result = json.loads(kube("logs", "upgrade-client").stdout.strip().splitlines()[-1])
    after = {p["metadata"]["name"] for p in kube.json("pods", "-l",
                                                      "app.kubernetes.io/component=api")["items"]}
    assert phase == "Succeeded"
    assert not before & after, "the API pods were not replaced"
    env = kube.json("deployment", deployment)["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "SMARTWATCH_RETRY_AFTER_SECONDS", "value": "7"} in env
    assert result["failures"] == []
    assert len(result["acked"]) > 100
    # Nothing acknowledged is missing from the topic.
    landed = {e["event_id"] for e in topic_values(installed) if e.get("device_id") == device}
    assert set(result["acked"]) <= landed


def test_rollback_restores_the_previous_values(installed: Installed) -> None:
    release, kube = installed.release, installed.kube
    release.helm("rollback", release.name, "1", "--wait", "--timeout", "300s")
    history = json.loads(release.helm("history", release.name, "-o", "json").stdout)
    assert [h["status"] for h in history][-1] == "deployed" and len(history) == 3
    deployment = installed.name("Deployment", "api")
    kube("rollout", "status", f"deployment/{deployment}", "--timeout=300s", timeout=330)
    env = kube.json("deployment", deployment)["spec"]["template"]["spec"]["containers"][0]["env"]
    assert "SMARTWATCH_RETRY_AFTER_SECONDS" not in {e["name"] for e in env}


def test_uninstall_leaves_no_workload_and_keeps_the_data(installed: Installed,
                                                         device_tokens: dict[str, str]) -> None:
    """No workload stays; the volumes and the generated Secrets do, so that installing again
    serves the same data: the registry still knows the device tokens issued before."""
    release, kube = installed.release, installed.kube
    selector = f"app.kubernetes.io/instance={release.name}"
    admin = installed.admin_token()
    kept_secrets = {o["metadata"]["name"] for o in installed.objects() if o["kind"] == "Secret"
                    and o["metadata"].get("annotations", {}).get("helm.sh/resource-policy")
                    == "keep"}
    assert kept_secrets
    delete_test_pods(kube)  # the tests' own pods, some with the release's labels
    release.uninstall()
    for kind in ("deployments", "statefulsets", "jobs", "services", "horizontalpodautoscalers",
                 "poddisruptionbudgets", "networkpolicies"):
        assert kube.json(kind, "-l", selector)["items"] == [], kind
    wait_gone(kube, "pods", selector)
    claims = {c["metadata"]["name"] for c in kube.json("pvc")["items"]}
    assert len(claims) >= 3, claims  # Kafka's, Postgres's and the object store's
    secrets = {s["metadata"]["name"] for s in kube.json("secrets")["items"]}
    assert kept_secrets <= secrets
    # Installed again on what was kept.
    release.install(installed.refs, timeout=INSTALL_TIMEOUT)
    assert installed.admin_token() == admin
    device, token = sorted(device_tokens.items())[0]
    target, port = api_service(installed)
    with port_forward(kube, target, port) as url:
        r = httpx.post(f"{url}/v1/events", headers={"authorization": f"Bearer {token}",
                                                    "content-type": "application/json"},
                       content=json.dumps({"device_id": device, "steps": 3,
                                           "measured_at": "2026-03-29T08:00:00Z"}))
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    assert device in {e["device_id"] for e in topic_values(installed)}
