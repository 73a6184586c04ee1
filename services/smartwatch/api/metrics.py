"""Prometheus metrics of one app (its own registry, so apps and tests do not share counts).

The counters and histograms are plain numbers, not prometheus_client's metric objects: the
app updates and exposes them on its one event loop thread, so they need none of the locks
that prometheus_client takes at every update (which cost a one-event request about a tenth
of its time)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class CounterChild:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        self.value += amount


class HistogramChild:
    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last: above every bound (+Inf)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # a bound is "less or equal"
        self.sum += value


class _Family(Collector):
    """One metric with labels: a child a combination of label values, made when first used."""

    def __init__(self, registry: CollectorRegistry, name: str, documentation: str,
                 labels: tuple[str, ...]) -> None:
        self.name = name
        self.documentation = documentation
        self.label_names = labels
        self.children: dict[tuple[str, ...], object] = {}
        if not labels:  # exposed as 0 before the first update
            self.children[()] = self._make()
        registry.register(self)

    def _make(self) -> object:
        raise NotImplementedError

    def labels(self, *values: str) -> object:
        child = self.children.get(values)
        if child is None:
            if len(values) != len(self.label_names):
                raise ValueError(f"{self.name} takes labels {self.label_names}, not {values}")
            child = self.children[values] = self._make()
        return child


class Counter(_Family):
    def _make(self) -> CounterChild:
        return CounterChild()

    def labels(self, *values: str) -> CounterChild:
        return super().labels(*values)  # type: ignore[return-value]

    def inc(self, amount: float = 1) -> None:
        self.labels().inc(amount)

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.label_names)
        for values, child in self.children.items():
            family.add_metric(list(values), child.value)  # type: ignore[attr-defined]
        yield family


class Histogram(_Family):
    def __init__(self, registry: CollectorRegistry, name: str, documentation: str,
                 labels: tuple[str, ...] = (), buckets: tuple[float, ...] = LATENCY_BUCKETS
                 ) -> None:
        self.buckets = tuple(sorted(buckets))
        super().__init__(registry, name, documentation, labels)

    def _make(self) -> HistogramChild:
        return HistogramChild(self.buckets)

    def labels(self, *values: str) -> HistogramChild:
        return super().labels(*values)  # type: ignore[return-value]

    def observe(self, value: float) -> None:
        self.labels().observe(value)

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.label_names)
        for values, child in self.children.items():
            assert isinstance(child, HistogramChild)
            cumulative, running = [], 0
            for bound, count in zip([*map(floatToGoString, self.buckets), "+Inf"], child.counts,
                                    strict=True):
                running += count
                cumulative.append((bound, running))
            family.add_metric(list(values), cumulative, child.sum)
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.accepted = Counter(r, "smartwatch_events_accepted", "Events acknowledged by Kafka",
                                ("endpoint",))
        self.rejected = Counter(r, "smartwatch_events_rejected",
                                "Events rejected, by the first field at fault",
                                ("endpoint", "field"))
        self.dead_lettered = Counter(r, "smartwatch_events_dead_lettered",
                                     "Rejected events written to the dead-letter topic",
                                     ("endpoint",))
        self.requests = Histogram(r, "smartwatch_request_seconds", "Request latency",
                                  ("endpoint", "status"))
        self.produce = Histogram(r, "smartwatch_produce_seconds",
                                 "Time from handing a request's records to Kafka to their "
                                 "acknowledgement")
        self.accepted_by = {e: self.accepted.labels(e) for e in ("events", "stream")}
        self.shed = Counter(r, "smartwatch_requests_shed",
                            "Ingest requests answered 429: over SMARTWATCH_MAX_IN_FLIGHT", ())
        self.kafka_unavailable = Counter(r, "smartwatch_kafka_unavailable",
                                         "Requests answered 503 because Kafka did not "
                                         "acknowledge", ())
        self._request_seconds: dict[tuple[str, int], HistogramChild] = {}

    def request_seconds(self, endpoint: str, status: int) -> HistogramChild:
        """The latency histogram of (endpoint, status)."""
        child = self._request_seconds.get((endpoint, status))
        if child is None:
            child = self._request_seconds[endpoint, status] = self.requests.labels(
                endpoint, str(status))
        return child
