"""The kind cluster itself, on a real node: version, DNS, an image built here, Services from a
pod and from the host, a volume of the default StorageClass, logs and exec."""

from __future__ import annotations

import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from smartwatch_dev import toolchain
from smartwatch_dev.stack.cluster import Cluster
from smartwatch_dev.stack.process import free_port
from tests.kind.conftest import Kube, build_web_image

pytestmark = pytest.mark.kind

TOKEN = uuid.uuid4().hex


def shell_pod(name: str, image: str, script: str, volume_claim: str | None = None) -> str:
    """A pod that runs `script` in bash once, as a manifest."""
    volume = (f"""
      volumeMounts: [{{name: data, mountPath: /data}}]
  volumes:
    - name: data
      persistentVolumeClaim: {{claimName: {volume_claim}}}""" if volume_claim else "")
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: Never
  containers:
    - name: main
      image: {image}
      imagePullPolicy: IfNotPresent
      command: [bash, -c, {script!r}]{volume}
"""


@pytest.fixture(scope="module")
def web(kind_cluster: Cluster, kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Deployment of the test web server and its Service `web`, Running; the image."""
    image = build_web_image(kind_cluster, tmp_path_factory.mktemp("web"))
    kube.apply(f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
        - name: web
          image: {image}
          imagePullPolicy: Never
          env: [{{name: TOKEN, value: "{TOKEN}"}}]
          ports: [{{containerPort: 8080}}]
          readinessProbe: {{httpGet: {{path: /, port: 8080}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 8080}}]
""")
    kube("rollout", "status", "deployment/web", "--timeout=180s", timeout=200)
    return image


def test_the_node_is_ready_at_the_pinned_kubernetes_version(kind_cluster: Cluster, kube: Kube) -> None:
    nodes = kube.json("nodes", namespaced=False)["items"]
    assert [n["metadata"]["name"] for n in nodes] == [f"{kind_cluster.name}-control-plane"]
    node = nodes[0]
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
    assert ready == "True"
    assert node["status"]["nodeInfo"]["kubeletVersion"] == f"v{toolchain.versions()['KUBERNETES_VERSION']}"
    status = kind_cluster.status()
    assert status["health"] == "ok"
    assert Path(status["kubeconfig"]).is_file()
    assert status["context"] == f"kind-{kind_cluster.name}"
    assert status["docker_host"].startswith("unix://") or status["docker_host"].startswith("tcp://")


def test_the_deployment_of_an_image_built_here_runs(kube: Kube, web: str) -> None:
    pods = kube.json("pods", "-l", "app=web")["items"]
    assert [p["status"]["phase"] for p in pods] == ["Running"]
    assert pods[0]["spec"]["containers"][0]["image"] == web


def test_coredns_resolves_a_service_name_from_a_pod(kind_cluster: Cluster, kube: Kube, web: str) -> None:
    cluster_ip = kube.json("service", "web")["spec"]["clusterIP"]
    fqdn = f"web.{kube.namespace}.svc.cluster.local"
    kube.apply(shell_pod("resolve", kind_cluster.base_image(), f"getent hosts {fqdn}"))
    assert kube.wait_pod_done("resolve") == "Succeeded"
    answer = kube("logs", "resolve").stdout.split()
    assert answer[:2] == [cluster_ip, fqdn]


def test_the_service_answers_another_pod(kind_cluster: Cluster, kube: Kube, web: str) -> None:
    script = ('exec 3<>/dev/tcp/web/80 && printf "GET / HTTP/1.0\\r\\nHost: web\\r\\n\\r\\n" >&3 '
              '&& cat <&3')
    kube.apply(shell_pod("client", kind_cluster.base_image(), script))
    assert kube.wait_pod_done("client") == "Succeeded"
    reply = kube("logs", "client").stdout
    pod = kube.json("pods", "-l", "app=web")["items"][0]["metadata"]["name"]
    assert reply.startswith("HTTP/1.0 200 OK")
    assert reply.rstrip().endswith(f"{TOKEN} {pod}")


def test_the_service_answers_the_host_through_port_forward(kube: Kube, web: str) -> None:
    port = free_port()
    forward = subprocess.Popen([*kube.base, "--namespace", kube.namespace, "port-forward",
                                "service/web", f"{port}:80"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
                    body = reply.read().decode()
                break
            except OSError:
                if time.monotonic() > deadline or forward.poll() is not None:
                    raise
                time.sleep(0.5)
    finally:
        forward.terminate()
        forward.wait(timeout=30)
    assert body.split()[0] == TOKEN


def test_kubectl_exec_runs_in_the_pod(kube: Kube, web: str) -> None:
    pod = kube.json("pods", "-l", "app=web")["items"][0]["metadata"]["name"]
    assert kube("exec", pod, "--", "cat", "/etc/hostname").stdout.strip() == pod
    assert kube("exec", pod, "--", "id", "-u").stdout.strip() == "65532"


def test_a_volume_of_the_default_storage_class_keeps_its_data_across_pods(
        kind_cluster: Cluster, kube: Kube) -> None:
    classes = kube.json("storageclass", namespaced=False)["items"]
    default = [c["metadata"]["name"] for c in classes
               if c["metadata"].get("annotations", {}).get(
                   "storageclass.kubernetes.io/is-default-class") == "true"]
    assert len(default) == 1
    kube.apply("""
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 64Mi}}
""")
    base = kind_cluster.base_image()
    kube.apply(shell_pod("writer", base, f"echo {TOKEN} > /data/token && sync", volume_claim="data"))
    assert kube.wait_pod_done("writer") == "Succeeded"
    claim = kube.json("pvc", "data")
    assert claim["status"]["phase"] == "Bound"
    assert claim["spec"]["storageClassName"] == default[0]
    kube("delete", "pod", "writer")
    kube.apply(shell_pod("reader", base, "cat /data/token", volume_claim="data"))
    assert kube.wait_pod_done("reader") == "Succeeded"
    assert kube("logs", "reader").stdout.strip() == TOKEN
