"""The embedded broker starts, answers Kafka requests, creates topics idempotently and stops."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.embedded import EmbeddedBroker, ensure_topics, kafka_ready

pytestmark = pytest.mark.integration


async def test_ensure_topics_is_idempotent_and_round_trips(kafka_bootstrap: str) -> None:
    topics = {"embedded-test.a.v1": 3, "embedded-test.b.v1": 3}
    await ensure_topics(kafka_bootstrap, topics)
    await ensure_topics(kafka_bootstrap, topics)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait("embedded-test.a.v1", b"hello", partition=2)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        "embedded-test.a.v1", bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert (record.partition, record.value) == (2, b"hello")


async def test_ensure_topics_refuses_a_different_partition_count(kafka_bootstrap: str) -> None:
    await ensure_topics(kafka_bootstrap, {"embedded-test.c.v1": 2})
    with pytest.raises(RuntimeError, match="partition count"):
        await ensure_topics(kafka_bootstrap, {"embedded-test.c.v1": 4})


def test_broker_stops_and_leaves_no_process() -> None:
    with EmbeddedBroker() as broker:
        process = broker._process
        assert process is not None
        assert kafka_ready(broker.host, broker.port)
    assert process.poll() is not None
    assert not kafka_ready(broker.host, broker.port)
