"""The worker's and the ticker's /metrics and /healthz, on the real broker."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import httpx
import pytest

from models.protocols import Catalog
from notifier.sinks import free_port
from streams.metrics import StreamsMetrics
from streams.processor import PatientProcessor
from streams.settings import StreamsSettings
from streams.ticker import TickPublisher
from streams.topics import TopicNames, create_topics
from streams.worker import AgentCrashed, serve
from tests.integration.streams.conftest import produce
from tests.unit.streams.conftest import treated

pytestmark = pytest.mark.integration


async def test_worker_serves_health_and_metrics(
    settings: StreamsSettings, catalog: Catalog
) -> None:
    port = free_port()
    settings = settings.model_copy(update={"metrics_port": port, "fetch_max_wait_ms": 20})
    stop = asyncio.Event()
    worker = asyncio.create_task(serve(settings, catalog, stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            health = None
            for _ in range(200):
                try:
                    health = await client.get("/healthz")
                    if health.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            assert health is not None and health.json() == {"status": "ok"}
            text = (await client.get("/metrics")).text
            assert "rw_streams_events_applied_total" in text
            assert "rw_streams_consumer_lag" in text and "rw_streams_tick_seconds" in text
            assert (await client.get("/tables")).status_code == 404  # no table views, ever
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=30)


async def test_ticker_counts_what_it_publishes(settings: StreamsSettings) -> None:
    await create_topics(settings)
    metrics = StreamsMetrics()
    now = datetime(2026, 1, 5, 9, tzinfo=UTC)
    async with TickPublisher.from_settings(settings, metrics) as publisher:
        await publisher.publish(now)
        await publisher.publish(now.replace(hour=10))
    value = metrics.registry.get_sample_value
    assert value("rw_ticker_ticks_published_total") == 2 * settings.partitions
    assert value("rw_ticker_last_tick_timestamp_seconds") == now.replace(hour=10).timestamp()


async def test_a_crashed_agent_stops_the_worker_instead_of_running_on(
    settings: StreamsSettings, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: PatientProcessor, records: list[object]) -> None:
        raise RuntimeError("the producer refused a record")  # as MessageSizeTooLarge did

    monkeypatch.setattr(PatientProcessor, "handle_batch", broken)
    port = free_port()
    settings = settings.model_copy(update={"metrics_port": port, "fetch_max_wait_ms": 20})
    stop = asyncio.Event()
    worker = asyncio.create_task(serve(settings, catalog, stop))
    names = TopicNames(settings.topic_prefix)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(300):  # up and healthy first
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            await produce(settings.kafka_bootstrap, [(names.patients, "p1", treated("p1")[0])])
            with pytest.raises(AgentCrashed, match="the producer refused a record"):
                await asyncio.wait_for(worker, timeout=60)
    finally:
        stop.set()
        if not worker.done():
            worker.cancel()


async def test_the_batch_a_crashed_agent_held_is_read_again_after_the_restart(
    settings: StreamsSettings, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The crashed worker must stop without committing the failed batch's offsets (and
    # without waiting for it to be acknowledged): its restart reads the batch again.
    handled: list[tuple[str, int]] = []
    crash = [True]
    real = PatientProcessor.handle_batch

    async def crashing_once(self: PatientProcessor, records: list) -> None:  # type: ignore[type-arg]
        if crash[0]:
            raise RuntimeError("the producer refused a record")
        handled.extend((r.topic, r.offset) for r in records)
        await real(self, records)

    monkeypatch.setattr(PatientProcessor, "handle_batch", crashing_once)
    settings = settings.model_copy(update={"fetch_max_wait_ms": 20})
    names = TopicNames(settings.topic_prefix)
    await create_topics(settings)
    await produce(settings.kafka_bootstrap, [(names.patients, "p1", treated("p1")[0])])
    with pytest.raises(AgentCrashed):
        await asyncio.wait_for(serve(settings, catalog, asyncio.Event()), timeout=120)
    crash[0] = False
    stop = asyncio.Event()
    worker = asyncio.create_task(serve(settings, catalog, stop))
    try:
        async with asyncio.timeout(120):
            while (names.patients, 0) not in handled:
                assert not worker.done(), worker
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=60)
