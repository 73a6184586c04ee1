"""The landing's lag as Prometheus metrics, served by the landing's driver: a thread measures
it every few seconds (smartwatch.lag: the topic's end offsets against the offsets the landing
committed in Postgres) and an HTTP server answers /metrics from the last measurement.

    smartwatch_landing_records_behind{topic,partition}              records not landed yet
    smartwatch_landing_oldest_unlanded_age_seconds{topic,partition} age of the oldest of them
                                                                    (0: none behind)
    smartwatch_landing_records_lost{topic,partition}                deleted by Kafka's retention
                                                                    before they were landed
    smartwatch_landing_lag_last_measured_timestamp_seconds          when it was last measured
    smartwatch_landing_lag_errors_total                             measurements that failed
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from smartwatch import lag

log = logging.getLogger(__name__)


class LagMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = ("topic", "partition")
        self.behind = Gauge("smartwatch_landing_records_behind",
                            "Records in Kafka that the landing has not landed yet.", labels,
                            registry=self.registry)
        self.oldest = Gauge("smartwatch_landing_oldest_unlanded_age_seconds",
                            "Age of the oldest record not landed yet (0: none).", labels,
                            registry=self.registry)
        self.lost = Gauge("smartwatch_landing_records_lost",
                          "Records Kafka deleted (retention) before the landing landed them.",
                          labels, registry=self.registry)
        self.measured = Gauge("smartwatch_landing_lag_last_measured_timestamp_seconds",
                              "When the lag was last measured (Unix time).",
                              registry=self.registry)
        self.errors = Counter("smartwatch_landing_lag_errors",
                              "Lag measurements that failed (Kafka or Postgres unreachable).",
                              registry=self.registry)

    def update(self, parts: list[lag.PartitionLag]) -> None:
        for p in parts:
            key = (p.topic, str(p.partition))
            self.behind.labels(*key).set(p.behind)
            self.oldest.labels(*key).set(p.oldest_age_seconds or 0)
            self.lost.labels(*key).set(p.lost)
        self.measured.set(time.time())


def start(port: int, interval_seconds: float, bootstrap: str, topic: str,
          landed: Callable[[], Mapping[int, int]],
          client_options: Mapping[str, Any] | None = None) -> threading.Event:
    """Serve the metrics on `port` and measure every `interval_seconds` in a daemon thread;
    `landed()` gives the committed offsets. Returns an event that stops the measuring."""
    metrics = LagMetrics()
    start_http_server(port, registry=metrics.registry)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                metrics.update(lag.measure(bootstrap, topic, landed(), client_options))
            except Exception as exc:  # keep measuring: Kafka or Postgres may come back
                metrics.errors.inc()
                log.warning("landing lag not measured: %s", exc)
            stop.wait(interval_seconds)

    threading.Thread(target=loop, name="smartwatch-landing-lag", daemon=True).start()
    log.info("landing lag metrics on port %d, measured every %gs", port, interval_seconds)
    return stop
