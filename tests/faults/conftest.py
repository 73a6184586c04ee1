"""The fault scenarios use the k8s tier's fixtures too (a namespace with the real CRDs on the
test stack's kube-apiserver)."""

from tests.k8s.conftest import kube_client, schedule_crd, spark_operator_crds  # noqa: F401
from tests.k8s.operator_env import cluster  # noqa: F401
