"""Under exactly_once every record the agent writes names the transaction of its source
partition; at least once, none does (the plain producer, as before)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from streams.exactly_once import key_partition, transactional_id
from streams.sink import FaustSink, Record
from streams.topics import TopicNames


class Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, dict[str, Any]]] = []

    async def send(self, topic, key, value, partition, timestamp, headers, **extra):  # type: ignore[no-untyped-def]
        self.sent.append((topic, key, extra))
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def app(in_transaction: bool) -> Any:
    return SimpleNamespace(
        in_transaction=in_transaction,
        producer=Producer(),
        conf=SimpleNamespace(id="rw-app"),
        assignor=SimpleNamespace(group_for_topic=lambda topic: 0),
    )


def test_key_partition_is_the_default_partitioners() -> None:
    for n in range(200):
        key = f"patient-{n}".encode()
        assert key_partition(key, 8) == DefaultPartitioner()(key, list(range(8)), list(range(8)))


async def test_outputs_name_the_transaction_of_their_source_partition() -> None:
    names = TopicNames()
    eos = app(in_transaction=True)
    sink = FaustSink(eos, names, partitions=8)  # type: ignore[arg-type]
    await sink.publish([Record(names.reminders, "p-17", b"{}")])
    await sink.publish_soon(Record(names.deadletter, None, b"{}", partition=5))
    reminder, letter = eos.producer.sent
    assert reminder[2] == {"transactional_id": f"rw-app-0-{key_partition(b'p-17', 8)}"}
    assert letter[2] == {"transactional_id": "rw-app-0-5"}
    assert transactional_id(eos, names.ticks, 3) == "rw-app-0-3"


async def test_at_least_once_sends_outside_any_transaction() -> None:
    names = TopicNames()
    plain = app(in_transaction=False)
    sink = FaustSink(plain, names, partitions=8)  # type: ignore[arg-type]
    await sink.publish([Record(names.reminders, "p-17", b"{}")])
    await sink.publish_soon(Record(names.deadletter, None, b"{}", partition=5))
    assert [extra for _, _, extra in plain.producer.sent] == [{}, {}]
