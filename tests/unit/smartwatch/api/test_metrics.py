"""The API's metrics as Prometheus reads them: counters and latency buckets, counted by hand."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from smartwatch.api.metrics import Metrics

pytestmark = pytest.mark.unit


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_counters_and_buckets_read_as_prometheus_counts_them() -> None:
    m = Metrics()
    m.accepted_by["stream"].inc(3)
    m.accepted_by["stream"].inc()
    m.rejected.labels("events", "steps").inc()
    for seconds in (0.0005, 0.001, 0.003, 0.003, 20.0):  # 0.001 is in the le="0.001" bucket
        m.request_seconds("stream", 200).observe(seconds)
    got = samples(m)
    assert got[("smartwatch_events_accepted_total", (("endpoint", "stream"),))] == 4
    assert got[("smartwatch_events_accepted_total", (("endpoint", "events"),))] == 0
    assert got[("smartwatch_events_rejected_total",
                (("endpoint", "events"), ("field", "steps")))] == 1
    assert got[("smartwatch_requests_shed_total", ())] == 0  # there before the first shed
    labels = (("endpoint", "stream"), ("status", "200"))
    bucket = {le: got[("smartwatch_request_seconds_bucket", (*labels[:1], ("le", le), labels[1]))]
              for le in ("0.001", "0.0025", "0.005", "10.0", "+Inf")}
    assert bucket == {"0.001": 2, "0.0025": 2, "0.005": 4, "10.0": 4, "+Inf": 5}
    assert got[("smartwatch_request_seconds_count", labels)] == 5
    assert got[("smartwatch_request_seconds_sum", labels)] == pytest.approx(20.0075)
