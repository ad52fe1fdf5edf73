"""Where ingest's events go: the `EventSink` port, `KafkaEventSink` and `MemoryEventSink`."""

from __future__ import annotations

import asyncio
from typing import Protocol

from aiokafka import AIOKafkaProducer

from models.events import Event, EventCorrected
from streams.topics import TopicNames

Routed = tuple[str, Event]  # (the event type whose topic it goes to, the event)


def route(event: Event, target_type: str | None = None) -> Routed:
    """Corrections and retractions go to the topic of the event they target
    (docs/wire-format.md); everything else to its own."""
    if isinstance(event, EventCorrected):
        return event.replacement.type, event
    return target_type or event.type, event


class EventSink(Protocol):
    async def send(self, events: list[Routed]) -> None:
        """Return once the broker has acknowledged every event (raise if it did not)."""

    async def enqueue(self, events: list[Routed]) -> None:
        """Hand the events to the producer; `drain` waits for their acknowledgement."""

    async def drain(self) -> None:
        """Return once everything enqueued is acknowledged (raise if something was not)."""


class KafkaEventSink:
    """One producer (acks=all), events keyed by patient_id. No idempotent producer: the event
    ids make a re-publish harmless downstream (and tansu refuses InitProducerId)."""

    def __init__(self, bootstrap: str, names: TopicNames, timeout: float = 10.0) -> None:
        self.bootstrap, self.names, self.timeout = bootstrap, names, timeout
        self._producer: AIOKafkaProducer | None = None
        self._pending: list[asyncio.Future[object]] = []

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id="rw-ingest",
            acks="all",
            enable_idempotence=False,
            linger_ms=1,
            request_timeout_ms=int(self.timeout * 1000),
        )
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def send(self, events: list[Routed]) -> None:
        pending = await self._hand_over(events)
        await asyncio.wait_for(asyncio.gather(*pending), self.timeout)

    async def enqueue(self, events: list[Routed]) -> None:
        self._pending.extend(await self._hand_over(events))

    async def drain(self) -> None:
        pending, self._pending = self._pending, []
        await asyncio.gather(*pending)

    async def _hand_over(self, events: list[Routed]) -> list[asyncio.Future[object]]:
        if self._producer is None:
            raise RuntimeError("KafkaEventSink used before start()")
        return [
            await self._producer.send(
                self.names.for_event(kind),
                event.model_dump_json().encode(),
                key=event.patient_id.encode(),
            )
            for kind, event in events
        ]


class MemoryEventSink:
    """Keeps what would be sent; `fail` makes the next sends raise (a broker that is down)."""

    def __init__(self) -> None:
        self.sent: list[Routed] = []
        self.fail = False

    async def send(self, events: list[Routed]) -> None:
        if self.fail:
            raise ConnectionError("broker unavailable")
        self.sent.extend(events)

    async def enqueue(self, events: list[Routed]) -> None:
        await self.send(events)

    async def drain(self) -> None:
        if self.fail:
            raise ConnectionError("broker unavailable")

    @property
    def events(self) -> list[Event]:
        return [event for _, event in self.sent]
