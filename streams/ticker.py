"""Time as an event: ticks published to every partition of the ticks topic.

Production ticks follow the wall clock; a simulation or replay publishes ticks from a start
instant in fixed steps, through the same agent code, as fast as the broker takes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer

from streams.codecs import encode_tick
from streams.metrics import StreamsMetrics
from streams.settings import StreamsSettings
from streams.topics import TopicNames

log = logging.getLogger(__name__)


class TickPublisher:
    """Publishes one tick to every partition of the ticks topic; an async context manager."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        metrics: StreamsMetrics | None = None,
        client: Mapping[str, Any] | None = None,  # TLS/SASL: KafkaSecurity.kafka_client_options
    ) -> None:
        self.topic = topic
        self.metrics = metrics
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, **(client or {})
        )
        self._partitions: list[int] = []

    @classmethod
    def from_settings(
        cls, settings: StreamsSettings, metrics: StreamsMetrics | None = None
    ) -> TickPublisher:
        return cls(
            settings.kafka_bootstrap,
            TopicNames(settings.topic_prefix).ticks,
            metrics,
            settings.kafka_client_options(),
        )

    async def start(self) -> None:
        await self._producer.start()
        found = await self._producer.partitions_for(self.topic)
        self._partitions = sorted(found or ())
        if not self._partitions:
            raise RuntimeError(f"topic {self.topic} has no partitions: create topics first")

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(self, now: datetime) -> None:
        """One tick at `now` on every partition; returns once the broker has them all."""
        if now.tzinfo is None:
            raise ValueError("a tick needs a timezone-aware instant")
        value = encode_tick(now)
        sent = [await self._producer.send(self.topic, value, partition=p) for p in self._partitions]
        await asyncio.gather(*sent)
        if self.metrics is not None:
            self.metrics.ticks_published.inc(len(self._partitions))
            self.metrics.last_tick.set(now.timestamp())

    async def __aenter__(self) -> TickPublisher:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


@dataclass(frozen=True)
class Ticker:
    """Simulated time: ticks at `start`, `start + step`, ... (a five-year run takes seconds)."""

    start: datetime
    step: timedelta

    def instants(self, count: int) -> Iterator[datetime]:
        return (self.start + i * self.step for i in range(count))

    async def run(self, publisher: TickPublisher, count: int) -> datetime:
        """Publish `count` ticks in order; returns the last instant."""
        now = self.start
        for now in self.instants(count):
            await publisher.publish(now)
        return now


async def run_wall_clock(
    publisher: TickPublisher, interval: float, stop: asyncio.Event | None = None
) -> None:
    """Publish the wall-clock time every `interval` seconds until `stop` is set."""
    stop = stop or asyncio.Event()
    while not stop.is_set():
        now = datetime.now(UTC)
        try:
            await publisher.publish(now)
        except Exception:
            log.exception("tick at %s not published; retrying at the next interval", now)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
