"""Schemathesis against the real API's own OpenAPI schema (uvicorn, Kafka and Postgres of the
test stack): for every operation, requests generated from the schema (valid ones, and ones
that break it), each sent with a device token and with the admin token; none may get a 5xx.
(Schemathesis's Python API with Hypothesis, not its pytest plugin.)"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from tests.figures import record
from tests.integration.api.helpers import new_device

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

EXAMPLES = 40  # a mode, an operation


def test_no_generated_request_gets_a_5xx(api) -> None:
    _, token = new_device(api, owner_zone="Europe/Berlin")
    tokens = {"device": token, "admin": api["admin_token"]}
    schema = schemathesis.openapi.from_url(f"{api['url']}/openapi.json")
    sent: dict[int, int] = {}
    operations = skipped = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            def run(case) -> None:
                for who, secret in tokens.items():
                    response = case.call(headers={"authorization": f"Bearer {secret}"})
                    sent[response.status_code] = sent.get(response.status_code, 0) + 1
                    assert response.status_code < 500, (
                        f"{case.method} {case.formatted_path} ({who}): "
                        f"{response.status_code} {response.text[:300]}")
            try:
                run()
            except Unsatisfiable:  # nothing to break in an operation without input
                assert mode is GenerationMode.NEGATIVE
                skipped += 1
    assert operations >= 5
    record("schemathesis: requests sent", f"{sum(sent.values())} over {operations} operations, "
           f"answers {dict(sorted(sent.items()))} ({skipped} operations without input to break)")
