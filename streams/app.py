"""The Faust app factory: topics, the two tables and the one patient agent."""

from __future__ import annotations

import time
from typing import Any

import faust
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer

from streams.metrics import StreamsMetrics
from streams.processor import PatientProcessor
from streams.settings import StreamsSettings
from streams.sink import FaustSink, OutputSink
from streams.topics import TopicNames


def faust_settings(settings: StreamsSettings) -> dict[str, Any]:
    """Faust configuration: raw bytes at the edge, at-least-once, no web views of tables."""
    conf: dict[str, Any] = {
        "broker": settings.broker_urls,
        "store": settings.store,
        "datadir": str(settings.data_dir),
        "topic_partitions": settings.partitions,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "processing_guarantee": "at_least_once",
        "producer_acks": -1,
        "consumer_auto_offset_reset": "earliest",
        # Security: no HTTP server in the worker (metrics are served separately), and
        # never the /table views, which would serve patient state without authentication.
        "web_enabled": False,
        "web_tables_enabled": False,
        # We create every topic ourselves, with the configured count, before starting.
        "topic_disable_leader": True,
    }
    if settings.local_timeouts:
        # A group join takes about half the rebalance timeout (measured on tansu).
        conf |= {
            "broker_session_timeout": 6.0,
            "broker_rebalance_timeout": 2.0,
            "broker_heartbeat_interval": 0.5,
        }
    if settings.one_record_per_batch:
        # tansu's ListOffsets(latest) under-reports with multi-record batches, so changelog
        # recovery can miss writes; a batch smaller than any record holds exactly one.
        conf |= {"producer_linger": 0.0, "producer_max_batch_size": 1}
    return conf


class _FetchWaitConsumerThread(AIOKafkaConsumerThread):
    """Faust's consumer thread with the fetch wait of `StreamsSettings.fetch_max_wait_ms`."""

    fetch_max_wait_ms = 1500

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = self.fetch_max_wait_ms  # read when the consumer starts
        return consumer


def _with_fetch_wait(app: faust.App, wait_ms: int) -> None:
    thread = type("FetchWaitThread", (_FetchWaitConsumerThread,), {"fetch_max_wait_ms": wait_ms})

    class FetchWaitConsumer(AIOKafkaConsumer):
        def _new_consumer_thread(self) -> Any:
            return thread(self, loop=self.loop, beacon=self.beacon)

    app.transport.Consumer = FetchWaitConsumer


def _flush_completely(app: faust.App, limit_seconds: float = 60.0) -> None:
    """Make the producer buffer's flush wait until the buffer is empty.

    faust-streaming's `ProducerBuffer.flush` gives up after 0.1 s without a send, and the
    consumer commits source offsets right after it: table writes still in the buffer (the
    patients changelog) could then be lost to a crash although their events were committed.
    Seen as patients missing after a SIGKILL. We flush until empty, or fail loudly.
    """
    buffer = app.producer.buffer

    async def flush() -> None:
        deadline = time.monotonic() + limit_seconds
        while buffer.size:
            await buffer.flush_atmost(None)
            if buffer.size and time.monotonic() > deadline:
                raise RuntimeError(f"producer buffer not drained in {limit_seconds} s")

    buffer.flush = flush  # type: ignore[method-assign]


def adjust_transport(app: faust.App, settings: StreamsSettings) -> None:
    """The two transport fixes every app of ours gets (see the functions above)."""
    if settings.fetch_max_wait_ms is not None:
        _with_fetch_wait(app, settings.fetch_max_wait_ms)
    _flush_completely(app)


def create_app(
    settings: StreamsSettings,
    catalog: Any,
    *,
    sink: OutputSink | None = None,
    metrics: StreamsMetrics | None = None,
) -> faust.App:
    """A new app with the patient agent; `sink` replaces the output topics in tests."""
    names = TopicNames(settings.topic_prefix)
    app = faust.App(settings.app_id, **faust_settings(settings))
    adjust_transport(app, settings)
    table = {
        "key_type": str,
        "value_type": bytes,
        "default": None,
        "partitions": settings.partitions,
    }
    patients = app.Table("patients", **table, help="patient_id -> wake_at + PatientState")
    clock = app.Table("clock", **table, help="partition-keyed ticks and due-index buckets")
    source = app.topic(
        *names.inputs, key_type=bytes, value_type=bytes, partitions=settings.partitions
    )
    processor = PatientProcessor(
        patients,
        clock,
        catalog=catalog,
        sink=sink or FaustSink(app, names),
        names=names,
        metrics=metrics or StreamsMetrics(),
        bucket_seconds=settings.due_bucket_seconds,
    )

    # concurrency=1: offsets must not be committed past an event still in flight.
    @app.agent(source, name="patient", concurrency=1)
    async def patient(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            message = event.message
            await processor.handle(
                message.value,
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
            )

    app.streams_processor = processor  # type: ignore[attr-defined]
    return app
