"""Where ingest's events go: the `EventSink` port, `KafkaEventSink` and `MemoryEventSink`."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from models.events import Event, EventCorrected, parse_event
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

    async def enqueue_records(self, records: list[tuple[str, bytes, bytes]]) -> None:
        """`enqueue` for events already serialised: (event type of the topic, key, value)."""


class KafkaEventSink:
    """One producer (acks=all), events keyed by patient_id. No idempotent producer: the event
    ids make a re-publish harmless downstream (and tansu refuses InitProducerId)."""

    def __init__(
        self,
        bootstrap: str,
        names: TopicNames,
        timeout: float = 10.0,
        linger_ms: int = 0,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        """`linger_ms` 0 for the listener (each ACK waits for its send); a few ms for file
        loads, which send a whole file before waiting. `client_options`: TLS and SASL
        (`KafkaSecurity.kafka_client_options()`), as the streams services connect."""
        self.bootstrap, self.names, self.timeout, self.linger_ms = (
            bootstrap,
            names,
            timeout,
            linger_ms,
        )
        self.client_options = dict(client_options or {})
        self._producer: AIOKafkaProducer | None = None
        self._pending: list[asyncio.Future[object]] = []
        self._batches: dict[tuple[str, int], BatchBuilder] = {}
        self._partitions: dict[str, list[int]] = {}
        self._partitioner = DefaultPartitioner()

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id="rw-ingest",
            acks="all",
            enable_idempotence=False,
            linger_ms=self.linger_ms,
            max_batch_size=256 * 1024,
            request_timeout_ms=int(self.timeout * 1000),
            **self.client_options,
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
        """Append to one record batch per partition, sent when full or at `drain`: a backfill
        pays aiokafka's per-record `send` cost once per batch. Partitions are chosen by the
        producer's own partitioner, so keys land where `send` would put them."""
        records = [(k, e.patient_id.encode(), e.model_dump_json().encode()) for k, e in events]
        await self.enqueue_records(records)

    async def enqueue_records(self, records: list[tuple[str, bytes, bytes]]) -> None:
        producer = self._started()
        for kind, key, value in records:
            topic = self.names.for_event(kind)
            partitions = self._partitions.get(topic)
            if partitions is None:
                partitions = self._partitions[topic] = sorted(await producer.partitions_for(topic))
            where = (topic, self._partitioner(key, partitions, partitions))
            batch = self._batches.get(where)
            if batch is None:
                batch = self._batches[where] = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it
                await self._send_batch(where)
                batch = self._batches[where] = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)

    async def drain(self) -> None:
        for where in list(self._batches):
            await self._send_batch(where)
        pending, self._pending = self._pending, []
        await asyncio.gather(*pending)

    async def _send_batch(self, where: tuple[str, int]) -> None:
        batch = self._batches.pop(where)
        if batch.record_count():
            topic, partition = where
            sent = await self._started().send_batch(batch, topic, partition=partition)
            self._pending.append(sent)

    def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("KafkaEventSink used before start()")
        return self._producer

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

    async def enqueue_records(self, records: list[tuple[str, bytes, bytes]]) -> None:
        await self.send([(kind, parse_event(value)) for kind, _, value in records])

    async def drain(self) -> None:
        if self.fail:
            raise ConnectionError("broker unavailable")

    @property
    def events(self) -> list[Event]:
        return [event for _, event in self.sent]
