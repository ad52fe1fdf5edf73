"""Prometheus metrics of the streams services, and their /metrics and /healthz endpoint.

One registry per app (no global state). No patient data is in any metric.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)


@dataclass
class StreamsMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    healthy: Callable[[], bool] = field(default=lambda: True)

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
        self.unmapped_lab_results = Counter(
            "rw_streams_unmapped_lab_results",
            "Lab results whose LOINC code is in no marker value set (they moved no clock)",
            ["loinc"],
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
        self.consumer_lag = Gauge(
            "rw_streams_consumer_lag",
            "Input records not yet committed (high watermark minus committed offset)",
            registry=self.registry,
        )
        self.ticks_published = Counter(
            "rw_ticker_ticks_published",
            "Ticks published (one per partition)",
            registry=self.registry,
        )
        self.last_tick = Gauge(
            "rw_ticker_last_tick_timestamp_seconds",
            "The instant of the latest tick published",
            registry=self.registry,
        )

    def serve(self, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
        """Serve /metrics and /healthz (200 while `healthy()`, else 503) in a thread."""
        metrics = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/metrics"):
                    body, status, kind = generate_latest(metrics.registry), 200, CONTENT_TYPE_LATEST
                elif self.path.startswith("/healthz"):
                    ok = metrics.healthy()
                    body = b'{"status":"ok"}' if ok else b'{"status":"unavailable"}'
                    status, kind = (200 if ok else 503), "application/json"
                else:
                    body, status, kind = b"not found", 404, "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:  # no access log lines
                pass

        server = ThreadingHTTPServer((host, port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True, name="metrics").start()
        return server
