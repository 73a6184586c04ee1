"""The local kube-apiserver: a CRD and a custom object created with the kubernetes client and
read back; requests without credentials are refused."""

import ssl
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.k8s

GROUP = "smoke.smartwatch.example.com"


def _crd(plural: str) -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {"group": GROUP, "scope": "Namespaced",
                 "names": {"plural": plural, "singular": plural[:-1], "kind": "Gadget"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                     "openAPIV3Schema": {"type": "object", "properties": {"spec": {
                         "type": "object", "required": ["size"],
                         "properties": {"size": {"type": "integer", "minimum": 1}}}}}}}]},
    }


def test_crd_and_custom_object_round_trip(kubeconfig: Path) -> None:
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    ext = client.ApiextensionsV1Api(api_client)
    custom = client.CustomObjectsApi(api_client)
    plural = f"gadgets{uuid.uuid4().hex[:6]}"
    ext.create_custom_resource_definition(_crd(plural))
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            crd = ext.read_custom_resource_definition(f"{plural}.{GROUP}")
            conds = {c.type: c.status for c in (crd.status.conditions or [])}
            if conds.get("Established") == "True":
                break
            time.sleep(0.2)
        else:
            pytest.fail("CRD never became Established")
        body = {"apiVersion": f"{GROUP}/v1", "kind": "Gadget",
                "metadata": {"name": "first"}, "spec": {"size": 3}}
        custom.create_namespaced_custom_object(GROUP, "v1", "default", plural, body)
        got = custom.get_namespaced_custom_object(GROUP, "v1", "default", plural, "first")
        assert got["spec"] == {"size": 3}
        # The schema is enforced server-side.
        bad = {**body, "metadata": {"name": "bad"}, "spec": {"size": 0}}
        with pytest.raises(client.ApiException) as err:
            custom.create_namespaced_custom_object(GROUP, "v1", "default", plural, bad)
        assert err.value.status == 422 and "spec.size" in err.value.body
    finally:
        ext.delete_custom_resource_definition(f"{plural}.{GROUP}")


def test_anonymous_requests_are_refused(kubeconfig: Path) -> None:
    cfg = yaml.safe_load(kubeconfig.read_text())
    cluster = cfg["clusters"][0]["cluster"]
    ctx = ssl.create_default_context(cafile=cluster["certificate-authority"])
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{cluster['server']}/api/v1/namespaces/default/secrets",
                               context=ctx, timeout=10)
    assert err.value.code in (401, 403)
