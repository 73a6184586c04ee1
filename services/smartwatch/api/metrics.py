"""Prometheus metrics of one app (its own registry, so apps and tests do not share counts)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.accepted = Counter("smartwatch_events_accepted_total",
                                "Events acknowledged by Kafka", ["endpoint"], registry=self.registry)
        self.rejected = Counter("smartwatch_events_rejected_total",
                                "Events rejected, by the first field at fault",
                                ["endpoint", "field"], registry=self.registry)
        self.dead_lettered = Counter("smartwatch_events_dead_lettered_total",
                                     "Rejected events written to the dead-letter topic",
                                     ["endpoint"], registry=self.registry)
        self.requests = Histogram("smartwatch_request_seconds", "Request latency",
                                  ["endpoint", "status"], buckets=LATENCY_BUCKETS,
                                  registry=self.registry)
        self.produce = Histogram("smartwatch_produce_seconds",
                                 "Time from handing a request's records to Kafka to their "
                                 "acknowledgement", buckets=LATENCY_BUCKETS, registry=self.registry)
        self.accepted_by = {e: self.accepted.labels(e) for e in ("events", "stream")}
        self.shed = Counter("smartwatch_requests_shed_total",
                            "Ingest requests answered 429: over SMARTWATCH_MAX_IN_FLIGHT",
                            registry=self.registry)
        self.kafka_unavailable = Counter("smartwatch_kafka_unavailable_total",
                                         "Requests answered 503 because Kafka did not acknowledge",
                                         registry=self.registry)
