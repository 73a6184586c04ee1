"""The operator's policy on what schedules may run (hand-written cases)."""

from __future__ import annotations

import pytest

from smartwatch_operator.policy import RunPolicy

pytestmark = pytest.mark.unit

POLICY = RunPolicy(images=("registry.example/smartwatch-spark:*",),
                   service_accounts=("spark",), secrets=("smartwatch-postgres", "lake-keys"))
SPEC = {"postgres": {"secretName": "smartwatch-postgres", "key": "dsn"},
        "spark": {"image": "registry.example/smartwatch-spark:0.1.0", "serviceAccount": "spark",
                  "env": [{"name": "AWS_ACCESS_KEY_ID",
                           "valueFrom": {"secretKeyRef": {"name": "lake-keys", "key": "a"}}},
                          {"name": "PLAIN", "value": "x"}],
                  "sparkConf": {"spark.hadoop.fs.s3a.path.style.access": "true"}}}


def test_a_schedule_within_the_policy_runs() -> None:
    assert POLICY.violation(SPEC) is None


@pytest.mark.parametrize(("change", "message"), [
    ({"spark": {**SPEC["spark"], "image": "evil/miner:1"}},
     "spec.spark.image 'evil/miner:1' is not allowed by the operator's policy (allowed images: "
     "registry.example/smartwatch-spark:*)"),
    ({"spark": {**SPEC["spark"], "serviceAccount": "cluster-admin"}},
     "spec.spark.serviceAccount 'cluster-admin' is not allowed by the operator's policy "
     "(allowed service accounts: spark)"),
    ({"postgres": {"secretName": "other-app-db"}},
     "spec.postgres.secretName 'other-app-db' is not allowed by the operator's policy "
     "(allowed Secrets: smartwatch-postgres, lake-keys)"),
    ({"spark": {**SPEC["spark"], "env": [{"name": "T", "valueFrom": {
        "secretKeyRef": {"name": "api-admin-token", "key": "token"}}}]}},
     "spec.spark.env[0].valueFrom.secretKeyRef.name 'api-admin-token' is not allowed by the "
     "operator's policy (allowed Secrets: smartwatch-postgres, lake-keys)"),
    ({"spark": {**SPEC["spark"], "sparkConf": {
        "spark.kubernetes.container.image": "evil/miner:1"}}},
     "spec.spark.sparkConf 'spark.kubernetes.container.image' is not allowed by the operator's "
     "policy: it would choose an image, an identity, Secrets or a pod template outside the "
     "policy"),
    ({"spark": {**SPEC["spark"], "sparkConf": {
        "spark.kubernetes.driver.secretKeyRef.TOKEN": "api-admin-token:token"}}},
     "spec.spark.sparkConf 'spark.kubernetes.driver.secretKeyRef.TOKEN' is not allowed"),
    ({"spark": {**SPEC["spark"], "sparkConf": {
        "spark.kubernetes.authenticate.driver.serviceAccountName": "cluster-admin"}}},
     "spec.spark.sparkConf 'spark.kubernetes.authenticate.driver.serviceAccountName' is not"),
])
def test_what_the_policy_does_not_allow_is_named(change: dict, message: str) -> None:
    found = POLICY.violation({**SPEC, **change})
    assert found is not None and found.startswith(message)


def test_no_policy_allows_anything() -> None:
    anything = {**SPEC, "spark": {**SPEC["spark"], "image": "evil/miner:1",
                                  "sparkConf": {"spark.kubernetes.container.image": "x"}}}
    assert RunPolicy().violation(anything) is None
