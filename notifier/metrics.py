"""Prometheus metrics of the notifier, in a registry of its own; no patient data in them."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


@dataclass
class NotifierMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.deliveries = Counter(
            "rw_notifier_deliveries",
            "Delivery decisions by outcome (sent, deferred, suppressed, failed, retrying)",
            ["status", "purpose"],
            registry=self.registry,
        )
        self.consumed = Counter(
            "rw_notifier_consumed",
            "Reminder and alert records read from Kafka",
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "rw_notifier_consumer_lag",
            "Records on reminders and alerts not yet read (high watermark minus position)",
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
