"""FaustSink: a tick's outputs go out without waiting, and `publish` waits for them all."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from streams.sink import FaustSink, Record, send_batches
from streams.topics import TopicNames

NAMES = TopicNames()


class Producer:
    """Hands out one future per record; the test decides when the broker acknowledges."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.futures: list[asyncio.Future[object]] = []

    async def send(self, topic: str, key: bytes | None, value: bytes, *_: Any) -> Any:
        self.sent.append((topic, value))
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return future


def reminder(n: int) -> Record:
    return Record(NAMES.reminders, f"p{n}", f"r{n}".encode())


async def test_publish_waits_for_what_was_sent_before_it() -> None:
    producer = Producer()
    app = SimpleNamespace(producer=producer, in_transaction=False)
    sink = FaustSink(app, NAMES)  # type: ignore[arg-type]

    await sink.send([reminder(1), reminder(2)])  # returns at once: nothing acknowledged yet
    assert [value for _, value in producer.sent] == [b"r1", b"r2"]
    published = asyncio.ensure_future(sink.publish([reminder(3)]))
    await asyncio.sleep(0.01)
    producer.futures[2].set_result(None)
    producer.futures[1].set_result(None)
    await asyncio.sleep(0.01)
    assert not published.done()  # the first reminder sent is not acknowledged yet

    producer.futures[0].set_result(None)
    await asyncio.wait_for(published, 1)
    await asyncio.wait_for(sink.publish([]), 1)  # nothing left to wait for


class Batches:
    """aiokafka's batch interface, with batches of at most `capacity` records: what was handed
    over, batch by batch and record by record, in the order it reached the producer."""

    def __init__(self, capacity: int, partitions: int = 4) -> None:
        self.capacity = capacity
        self.partitions = partitions
        self.handed: list[tuple[str, int, list[tuple[bytes | None, bytes | None]]]] = []

    def create_batch(self) -> Builder:
        return Builder(self.capacity)

    async def send_batch(self, batch: Builder, topic: str, *, partition: int) -> Any:
        assert batch.closed
        self.handed.append((topic, partition, list(batch.records)))
        return asyncio.get_running_loop().create_future()

    async def send(self, topic: str, value: bytes, *, key: bytes, partition: int) -> Any:
        self.handed.append((topic, partition, [(key, value)]))  # one record, not a batch
        return asyncio.get_running_loop().create_future()

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.partitions))

    def records(self, topic: str, partition: int) -> list[bytes | None]:
        return [v for t, p, batch in self.handed if (t, p) == (topic, partition) for _, v in batch]


class Builder:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.records: list[tuple[bytes | None, bytes | None]] = []
        self.closed = False

    def append(self, *, timestamp: None, key: bytes | None, value: bytes | None) -> Any:
        if self.closed or len(self.records) >= self.capacity or value == b"too big":
            self.closed = True
            return None
        self.records.append((key, value))
        return object()

    def close(self) -> None:
        self.closed = True


async def test_batches_keep_each_partitions_order_and_split_when_full() -> None:
    producer = Batches(capacity=3)
    placed = [("t", n % 2, None, f"v{n}".encode()) for n in range(11)]
    seen: list[tuple[str, int, int]] = []
    sent = await send_batches(producer, placed, lambda t, p, n, _: seen.append((t, p, n)))

    assert producer.records("t", 0) == [f"v{n}".encode() for n in range(0, 11, 2)]
    assert producer.records("t", 1) == [f"v{n}".encode() for n in range(1, 11, 2)]
    assert [len(batch) for _, _, batch in producer.handed] == [3, 3, 3, 2]
    assert sorted(seen) == [("t", 0, 3), ("t", 0, 3), ("t", 1, 2), ("t", 1, 3)]
    assert len(sent) == 4


async def test_a_record_larger_than_a_batch_goes_alone_in_its_place() -> None:
    producer = Batches(capacity=10)
    values = [b"a", b"b", b"too big", b"c"]
    await send_batches(producer, [("t", 0, None, v) for v in values])
    assert producer.records("t", 0) == values
    assert [len(batch) for _, _, batch in producer.handed] == [2, 1, 1]


async def test_many_outputs_go_to_their_keys_partitions_as_send_would_put_them() -> None:
    producer = Batches(capacity=100)
    inner = SimpleNamespace(_ensure_producer=lambda: producer)
    sink = FaustSink(SimpleNamespace(producer=inner, in_transaction=False), NAMES)  # type: ignore[arg-type]
    records = [Record(NAMES.patient_state, f"p{n}", f"s{n}".encode()) for n in range(40)]
    await sink.publish_many_soon(records)

    partitioner = DefaultPartitioner()  # what `send` uses for a keyed record
    for record in records:
        partition = partitioner((record.key or "").encode(), [0, 1, 2, 3], [0, 1, 2, 3])
        assert record.value in producer.records(NAMES.patient_state, partition)
    assert sum(len(batch) for _, _, batch in producer.handed) == 40
