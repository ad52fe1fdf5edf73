"""Prometheus metrics of the patient agent, in a registry of their own (one per app)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server


@dataclass
class StreamsMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.events_applied = Counter(
            "rw_streams_events_applied", "Events folded into patient state", registry=self.registry
        )
        self.dead_lettered = Counter(
            "rw_streams_dead_lettered",
            "Records sent to the deadletter topic",
            ["topic"],
            registry=self.registry,
        )
        self.reminders_emitted = Counter(
            "rw_streams_reminders_emitted",
            "Reminders and cancellations published",
            registry=self.registry,
        )
        self.alerts_emitted = Counter(
            "rw_streams_alerts_emitted", "Care-team alerts published", registry=self.registry
        )
        self.tick_seconds = Histogram(
            "rw_streams_tick_seconds",
            "Time to settle a partition's due patients on one tick",
            registry=self.registry,
        )

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Expose /metrics over HTTP (no patient data is in these metrics)."""
        start_http_server(port, addr=host, registry=self.registry)
