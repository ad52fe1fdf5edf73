"""Exactly-once processing (`RW_PROCESSING_GUARANTEE=exactly_once`), where the broker allows it.

Faust's exactly-once commits a source partition's offsets in a transaction of its own, one
transactional producer per partition (`{app_id}-{group}-{partition}`). The patient agent hands
its outputs and table writes to the producer directly (`FaustSink`, `FaustTableStore`), so each
record must name the transaction of the source partition that caused it; otherwise it goes out
on the plain producer, outside any transaction, and a crash repeats it as under at-least-once.
`transactional_id` picks it; `require_transactions` refuses to start on a broker that cannot
do transactions (the embedded tansu broker cannot: its InitProducerId fails).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2

from streams.settings import StreamsSettings


class TransactionsUnsupported(RuntimeError):
    """exactly_once was asked for, and the broker cannot do transactions."""


def key_partition(key: bytes, partitions: int) -> int:
    """The partition the default partitioner (aiokafka's, the Java client's) gives `key`."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def transactional_id(app: Any, source_topic: str, partition: int) -> str:
    """The id of the transaction that commits `partition` of the agent's source topics, as
    Faust's `TransactionManager` names it."""
    group = app.assignor.group_for_topic(source_topic)
    return f"{app.conf.id}-{group}-{partition}"


async def require_transactions(settings: StreamsSettings, timeout: float = 30.0) -> None:
    """Start a transactional producer once: fine, or `TransactionsUnsupported` in words."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        transactional_id=f"{settings.app_id}-probe",
        **settings.kafka_client_options(),
    )
    try:
        async with asyncio.timeout(timeout):
            await producer.start()
            await producer.begin_transaction()
            await producer.abort_transaction()
    except (KafkaError, TimeoutError, OSError) as exc:
        raise TransactionsUnsupported(
            f"RW_PROCESSING_GUARANTEE=exactly_once needs a broker with transactions, and "
            f"{settings.kafka_bootstrap} gave none ({type(exc).__name__}); the embedded tansu "
            "broker has none. Use a Kafka broker, or RW_PROCESSING_GUARANTEE=at_least_once."
        ) from exc
    finally:
        await producer.stop()
