"""spark-operator on the kind tier's cluster, as a test fixture: its controller from the image
built here (build/images/smartwatch-spark-operator.Dockerfile), the real CRDs of ../shared/crds
(and the SparkConnect CRD its controller also watches, read from its Go module), the smallest
RBAC it needs, no webhook. Users install spark-operator with its official chart
(docs/deploy.md)."""

from __future__ import annotations

import json
from typing import Any

from smartwatch_dev.stack import images
from smartwatch_dev.stack.cluster import Cluster
from smartwatch_dev.stack.crds import third_party_crds
from tests.kind.conftest import Kube

NAMESPACE = "spark-operator"
NAME = "spark-operator"

#: What the controller does: reconcile SparkApplications (status, finalizers), run
#: spark-submit, which makes the driver pod, its Service, ConfigMap and NetworkPolicy in the
#: application's namespace, watch the pods and claims it made, and record Events.
RULES = [
    {"apiGroups": [""], "resources": ["pods"],
     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]},
    {"apiGroups": [""], "resources": ["services", "configmaps"],
     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]},
    {"apiGroups": [""], "resources": ["persistentvolumeclaims"],
     "verbs": ["get", "list", "watch", "deletecollection"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "update", "patch"]},
    # spark-submit of Spark 4 puts a NetworkPolicy around each driver.
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"],
     "verbs": ["get", "list", "create", "update", "patch", "delete"]},
    {"apiGroups": ["sparkoperator.k8s.io"],
     "resources": ["sparkapplications", "scheduledsparkapplications", "sparkconnects"],
     "verbs": ["get", "list", "watch", "update", "patch", "delete"]},
    {"apiGroups": ["sparkoperator.k8s.io"],
     "resources": ["sparkapplications/status", "sparkapplications/finalizers",
                   "scheduledsparkapplications/status", "scheduledsparkapplications/finalizers",
                   "sparkconnects/status", "sparkconnects/finalizers"],
     "verbs": ["get", "update", "patch"]},
]


def objects(image: str) -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/name": NAME}
    restricted = {"runAsNonRoot": True, "readOnlyRootFilesystem": True,
                  "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                  "seccompProfile": {"type": "RuntimeDefault"}}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": NAME, "namespace": NAMESPACE}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": f"smartwatch-test-{NAME}"}, "rules": RULES},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": f"smartwatch-test-{NAME}"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": f"smartwatch-test-{NAME}"},
         "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {
                      "serviceAccountName": NAME, "enableServiceLinks": False,
                      "containers": [{
                          "name": "controller", "image": image, "imagePullPolicy": "Never",
                          "args": ["controller", "start", "--enable-ui-service=false",
                                   "--leader-election=false", "--zap-log-level=info",
                                   "--controller-threads=4"],
                          "env": [{"name": "HOME", "value": "/tmp"}],
                          "securityContext": restricted,
                          "resources": {"requests": {"cpu": "50m", "memory": "256Mi"}},
                          "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8081}},
                          "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}],
                      "volumes": [{"name": "tmp", "emptyDir": {}}]}}}},
    ]


def install(cluster: Cluster, report=print) -> str:
    """spark-operator running on the cluster, watching every namespace: its image's ref."""
    image = images.build(cluster, "smartwatch-spark-operator", report=report)
    kube = Kube(cluster, NAMESPACE)
    from smartwatch_dev import toolchain

    folder = f"spark-operator-{toolchain.versions()['SPARK_OPERATOR_VERSION']}"
    crds = third_party_crds(folder)
    assert crds is not None, f"the {folder} CRDs (../shared/crds) are not found"
    for path in [*sorted(crds.glob("*.yaml")), toolchain.spark_operator_crd("sparkconnects")]:
        kube("apply", "--server-side", "-f", str(path), namespaced=False, timeout=120)
    kube("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s",
         namespaced=False, timeout=90)
    kube("apply", "-f", "-", input="\n".join(json.dumps(o) for o in objects(image)),
         namespaced=False)
    kube("rollout", "status", f"deployment/{NAME}", "--timeout=180s", timeout=200)
    return image
