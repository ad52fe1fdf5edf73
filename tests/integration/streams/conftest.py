"""Helpers for streams integration tests: fresh topics per test, plain aiokafka clients."""

from __future__ import annotations

import asyncio
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from itertools import count
from pathlib import Path
from typing import Any

import faust
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from models.outputs import Reminder, parse_output
from models.protocols import Catalog
from streams.app import create_app
from streams.settings import StreamsSettings
from streams.topics import create_topics
from tests.integration.brokers import Broker
from tests.unit.streams.conftest import PROTOCOL

_ids = count()


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog.from_texts({"test-breast.yaml": PROTOCOL})


@pytest.fixture
def protocols_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "protocols"
    folder.mkdir()
    (folder / "test-breast.yaml").write_text(PROTOCOL, encoding="utf-8")
    return folder


@pytest.fixture
def settings(broker: Broker, tmp_path: Path) -> StreamsSettings:
    """Topics and a consumer group of this test's own; on tansu (whose ListOffsets(latest)
    under-reports), table recovery confirms changelog ends; Apache Kafka needs no workaround."""
    n = next(_ids)
    return StreamsSettings(
        kafka_bootstrap=broker.bootstrap,
        topic_prefix=f"it{n}.",
        app_id=f"it-streams-{n}",
        partitions=2,
        data_dir=tmp_path / "streams",
        confirm_changelog_ends=broker.tansu_quirks,
        simulated_time=True,
        loglevel="warning",
    )


@asynccontextmanager
async def running_app(settings: StreamsSettings, catalog: Any) -> AsyncIterator[faust.App]:
    """The patient agent started in this process, stopped on exit."""
    await create_topics(settings)
    app = create_app(settings, catalog)
    with warnings.catch_warnings():
        # mode creates an Event with a deprecated loop argument while starting the worker
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"mode\.")
        await asyncio.wait_for(app.start(), timeout=30)
    try:
        yield app
    finally:
        await asyncio.wait_for(app.stop(), timeout=30)


async def produce(bootstrap: str, records: Iterable[tuple[str, str | None, bytes | None]]) -> None:
    """Send (topic, key, value) records in order with a plain producer, keyed like upstream."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for topic, key, value in records:
            await producer.send_and_wait(topic, value, key=key.encode() if key else None)
    finally:
        await producer.stop()


async def reminder_copies(
    bootstrap: str, topic: str, isolation: str = "read_uncommitted", quiet_polls: int = 6
) -> Counter[str]:
    """How often each reminder id is on `topic`, as a fresh consumer of that isolation level reads
    it from the beginning until `quiet_polls` polls of 0.5 s in a row bring nothing (the end,
    when nothing writes to it any more)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level=isolation,
    )
    await consumer.start()
    copies: Counter[str] = Counter()
    try:
        quiet = 0
        while quiet < quiet_polls:
            batch = await consumer.getmany(timeout_ms=500)
            quiet = 0 if batch else quiet + 1
            for records in batch.values():
                for record in records:
                    output = parse_output(record.value)
                    if isinstance(output, Reminder):
                        copies[output.reminder_id] += 1
    finally:
        await consumer.stop()
    return copies


async def collect(
    bootstrap: str,
    topic: str,
    done: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    timeout: float = 30.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read `topic` from the beginning until `done(records)` holds; fail after `timeout`."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        async with asyncio.timeout(timeout):
            while not done(records):
                batch = await consumer.getmany(timeout_ms=200)
                for got in batch.values():
                    records.extend(got)
    except TimeoutError:
        pytest.fail(f"{topic}: condition not met in {timeout}s with {len(records)} records")
    finally:
        await consumer.stop()
    return records
