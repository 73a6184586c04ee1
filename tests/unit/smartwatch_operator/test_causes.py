"""A failed run's reason: its driver pod's termination message, joined to spark-operator's
error message (handlers.driver_message, handlers.with_causes), with hand-written pods."""

from __future__ import annotations

import pytest

from smartwatch_operator.handlers import driver_message, with_causes
from smartwatch_operator.reconcile import RunObserved

pytestmark = pytest.mark.unit


def pod(name: str, exit_code: int, message: str | None) -> dict:
    terminated = {"exitCode": exit_code, "reason": "Error" if exit_code else "Completed"}
    if message is not None:
        terminated["message"] = message
    return {"status": {"containerStatuses": [
        {"name": "sidecar", "state": {"terminated": {"exitCode": 1, "message": "not this"}}},
        {"name": name, "state": {"terminated": terminated}}]}}


@pytest.mark.parametrize(("body", "want"), [
    (pod("spark-kubernetes-driver", 1, "smartwatch aggregate: Postgres is not reachable\n"),
     "smartwatch aggregate: Postgres is not reachable"),
    (pod("spark-kubernetes-driver", 0, "done"), ""),  # not failed
    (pod("spark-kubernetes-driver", 1, None), ""),
    (pod("other", 1, "x"), ""),
    ({"status": {"containerStatuses": [{"name": "spark-kubernetes-driver",
                                        "state": {"running": {}}}]}}, ""),
    ({}, ""),
])
def test_driver_message(body: dict, want: str) -> None:
    assert driver_message(body) == want


def test_with_causes_joins_the_driver_message_to_the_run_of_its_namespace() -> None:
    runs = [RunObserved("a", "FAILED", "driver container failed with ExitCode: 1, Reason: Error"),
            RunObserved("b", "FAILED", ""), RunObserved("c", "COMPLETED")]
    causes = {("ns", "a"): ["smartwatch aggregate: wrong password"], ("ns", "b"): ["no lake"],
              ("other", "c"): ["elsewhere"]}
    got = with_causes(runs, causes, "ns")
    assert got["a"].message == ("driver container failed with ExitCode: 1, Reason: Error: "
                                "smartwatch aggregate: wrong password")
    assert got["b"].message == "no lake"
    assert got["c"] == runs[2]
    # already joined (the index gives the same message again): not repeated
    assert with_causes([got["a"]], causes, "ns")["a"].message == got["a"].message
