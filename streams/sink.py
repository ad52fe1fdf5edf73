"""Where the patient agent's outputs go: a port, its Faust adapter and an in-memory twin."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import faust

from streams.exactly_once import key_partition, transactional_id
from streams.topics import TopicNames


@dataclass(frozen=True)
class Record:
    topic: str
    key: str | None
    value: bytes
    # The source partition whose work this is, for a record without a key (a dead letter):
    # under exactly_once it goes out in that partition's transaction. Keyed records: the key's.
    partition: int | None = None


class OutputSink(Protocol):
    async def publish(self, records: list[Record]) -> None:
        """Send the records and return once the broker has acknowledged every one, and every
        record given to `send` before."""

    async def send(self, records: list[Record]) -> None:
        """Send the records without waiting for the broker; the next `publish` waits for
        them. A tick's reminders go out this way while the tick settles the rest."""

    async def publish_soon(self, record: Record) -> None:
        """Send a record; delivery is confirmed before the source offset is committed."""

    async def publish_many_soon(self, records: list[Record]) -> None:
        """`publish_soon` for keyed records, handed over as whole batches where possible."""

    async def flush(self) -> None:
        """Return once everything sent so far, table writes included, is acknowledged."""


class FaustSink:
    """Publishes through the app's producer to the output topics.

    It hands records to the producer directly (`app.producer.send`), not through `Topic.send`
    and Faust's buffer: outputs are bytes already, and Faust's per-record bookkeeping cost
    more than the records. The app's flush before each offset commit still covers them: it
    flushes the same producer.
    """

    def __init__(self, app: faust.App, names: TopicNames, partitions: int = 1) -> None:
        self._app = app
        self._topics = set(names.outputs)
        self._source = names.ticks  # any source topic: they are one co-partitioned group
        self._partitions = partitions
        self._unacknowledged: list[Awaitable[object]] = []  # from `send`, for `publish`

    async def publish(self, records: list[Record]) -> None:
        await self.send(records)
        pending, self._unacknowledged = self._unacknowledged, []
        await asyncio.gather(*pending)

    async def send(self, records: list[Record]) -> None:
        self._unacknowledged += [await self._send(record) for record in records]

    async def publish_soon(self, record: Record) -> None:
        await self._send(record)

    async def publish_many_soon(self, records: list[Record]) -> None:
        if self._app.in_transaction:  # each record in its source partition's transaction
            for record in records:
                await self._send(record)
            return
        producer = self._app.producer._ensure_producer()  # aiokafka's, under Faust's wrapper
        counts: dict[str, int] = {}
        placed: list[Placed] = []
        for record in records:
            if record.topic not in self._topics or record.key is None:
                raise ValueError(f"{record.topic}: only keyed records of output topics")
            count = counts.get(record.topic)
            if count is None:
                count = counts[record.topic] = len(await producer.partitions_for(record.topic))
            key = record.key.encode()
            placed.append((record.topic, key_partition(key, count), key, record.value))
        await send_batches(producer, placed)

    async def flush(self) -> None:
        await self._app.producer.flush()

    async def _send(self, record: Record) -> Awaitable[object]:
        if record.topic not in self._topics:
            raise ValueError(f"{record.topic} is not an output topic")
        key = None if record.key is None else record.key.encode()
        if not self._app.in_transaction:
            return await self._app.producer.send(record.topic, key, record.value, None, None, None)
        if record.partition is not None:
            source = record.partition
        elif key is not None:
            source = key_partition(key, self._partitions)  # where the patient's events are
        else:
            raise ValueError(f"a record for {record.topic} names neither a key nor a partition")
        return await self._app.producer.send(
            record.topic,
            key,
            record.value,
            None,
            None,
            None,
            transactional_id=transactional_id(self._app, self._source, source),
        )


@dataclass
class MemorySink:
    """Keeps what would be published, in order; for unit tests and what-if runs."""

    records: list[Record] = field(default_factory=list)
    flushes: int = 0

    async def publish(self, records: list[Record]) -> None:
        self.records.extend(records)

    async def send(self, records: list[Record]) -> None:
        self.records.extend(records)

    async def publish_soon(self, record: Record) -> None:
        self.records.append(record)

    async def publish_many_soon(self, records: list[Record]) -> None:
        self.records.extend(records)

    async def flush(self) -> None:
        self.flushes += 1

    def on(self, topic: str) -> list[Record]:
        return [r for r in self.records if r.topic == topic]


Placed = tuple[str, int, bytes | None, bytes | None]  # topic, partition, key, value


async def send_batches(
    producer: Any,
    records: Iterable[Placed],
    on_sent: Callable[[str, int, int, Any], None] | None = None,
) -> list[Awaitable[Any]]:
    """Hand records to an aiokafka producer as whole record batches, one topic-partition at
    a time (`create_batch`, `send_batch`), in order within each partition.

    A record then costs an append to the batch's builder, not a `send` with its future and
    the partitioner's metadata lookups: profiled on a tick of 10,000 due patients, sending
    its 20,000 changelog and snapshot records one by one took about a fifth of its CPU. The
    producer's `flush` waits for these batches as for any other. `on_sent(topic, partition,
    count, future)` is called for each batch handed over. At-least-once producers only: a
    transactional producer takes records in a transaction through `send`.
    """
    builders: dict[tuple[str, int], tuple[Any, int]] = {}  # open batch, records in it
    sent: list[Awaitable[Any]] = []

    async def submit(topic: str, partition: int, builder: Any, count: int) -> None:
        builder.close()
        future = await producer.send_batch(builder, topic, partition=partition)
        if on_sent is not None:
            on_sent(topic, partition, count, future)
        sent.append(future)

    for topic, partition, key, value in records:
        tp = (topic, partition)
        entry = builders.get(tp)
        if entry is not None:
            if entry[0].append(timestamp=None, key=key, value=value) is not None:
                builders[tp] = (entry[0], entry[1] + 1)
                continue
            await submit(topic, partition, *entry)  # full: it goes, a new one follows
            del builders[tp]
        builder = producer.create_batch()
        if builder.append(timestamp=None, key=key, value=value) is None:
            # Larger than an empty batch: `send` takes it (or says why it cannot), in order.
            sent.append(await producer.send(topic, value, key=key, partition=partition))
            continue
        builders[tp] = (builder, 1)
    for (topic, partition), (builder, count) in builders.items():
        await submit(topic, partition, builder, count)
    return sent
