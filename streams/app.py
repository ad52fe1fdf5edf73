"""The Faust app factory: topics, the two tables and the one patient agent."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import faust
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as FaustConsumer
from faust.types import TP
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent

from models.parking import ParkingPolicy
from streams.embedded import confirmed_ends
from streams.intake import DirectDelivery, batches
from streams.metrics import StreamsMetrics
from streams.processor import FaustTableStore, Incoming, PatientProcessor, TickRule
from streams.settings import StreamsSettings
from streams.sink import FaustSink, OutputSink
from streams.topics import TopicNames

log = logging.getLogger(__name__)


def faust_settings(settings: StreamsSettings) -> dict[str, Any]:
    """Faust configuration: raw bytes at the edge, at-least-once unless exactly_once is asked
    for (streams.exactly_once), no web views of tables."""
    conf: dict[str, Any] = {
        "broker": settings.broker_urls,
        "store": settings.store,
        "datadir": str(settings.data_dir),
        "topic_partitions": settings.partitions,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "processing_guarantee": settings.processing_guarantee,
        "producer_acks": -1,
        # Bigger producer batches, gathered for at most 5 ms: a tick sends thousands of
        # reminders and a batch of events a changelog record and a snapshot per patient;
        # the defaults (16 KiB, no linger) made one small request after another.
        "producer_linger": 0.005,
        "producer_max_batch_size": 256 * 1024,
        # Records buffered per agent before Faust pauses fetching. When every partition is
        # paused Faust's fetch loop sleeps a whole second; the default 4096 is less than half
        # a second of the patient agent's batched work, so it sat idle (seen as 0.5 s stalls
        # in bench/streams_bench.py). 16384 records of a few hundred bytes are a few MB.
        "stream_buffer_maxsize": 16384,
        "consumer_auto_offset_reset": "earliest",
        # Security: no HTTP server in the worker (metrics are served separately), and
        # never the /table views, which would serve patient state without authentication.
        "web_enabled": False,
        "web_tables_enabled": False,
        # We create every topic ourselves, with the configured count, before starting.
        "topic_disable_leader": True,
    }
    credentials = settings.faust_credentials()  # TLS/SASL (streams.kafka_security)
    if credentials is not None:
        conf["broker_credentials"] = credentials
    if settings.local_timeouts:
        # A group join takes about half the rebalance timeout (measured on tansu).
        conf |= {
            "broker_session_timeout": 6.0,
            "broker_rebalance_timeout": 2.0,
            "broker_heartbeat_interval": 0.5,
        }
    return conf


class _FetchWaitConsumerThread(AIOKafkaConsumerThread):
    """Faust's consumer thread with the fetch wait of `StreamsSettings.fetch_max_wait_ms`."""

    fetch_max_wait_ms: int  # set per app from StreamsSettings.fetch_max_wait_ms

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = self.fetch_max_wait_ms  # read when the consumer starts
        return consumer

    async def getmany(self, active_partitions: set[TP] | None, timeout: float) -> Any:
        """Fetch for the partitions active now, not for whatever the live set becomes.

        Faust hands aiokafka its live set of active partitions, and aiokafka reads "no
        partitions" as "every partition". When table recovery ends it pauses the changelog
        partitions, the set is empty for a moment, and a fetch still waiting then takes the
        source partitions' records too; Faust drops them (their partitions are paused)
        though the position has moved past them. Seen after a restart as records read but
        never handled (docs/streams.md, "The restart test").
        """
        snapshot = None if active_partitions is None else set(active_partitions)
        return await super().getmany(snapshot, timeout)

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        """Each partition's end as the broker lists it now, under exactly_once too.

        Under exactly_once Faust answers with `last_stable_offset`, which aiokafka knows only
        from a fetch response: before one it is None, later it is whatever the last fetch
        said. Table recovery then ended there, and a restarted worker lost most of its
        patients (2 of 39 due at a tick, seen in the SIGKILL test). ListOffsets from the
        consumer, which is read_committed under exactly_once, gives the last stable offset;
        at least once, it gives the high watermark, as Faust's own path does.
        """
        return await self._ensure_consumer().end_offsets(partitions)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """Seek to the committed offsets, and to the beginning where the group committed none.

        aiokafka seeks only where the committed offset is above 0, so records of a partition
        the group never committed, once fetched and dropped (in a rebalance), stayed skipped.
        """
        committed = await super().seek_to_committed()
        never = [
            tp
            for tp, offset in committed.items()
            if not offset and not self.consumer._is_changelog_tp(tp)
        ]
        if never:
            await self.seek_to_beginning(*never)
        return committed


class _FlowControl(FlowControlEvent):
    """Faust's flow control, except that resuming a flow that is not suspended clears nothing.

    `FlowControlEvent.resume` empties every stream buffer, suspended or not. At the end of
    table recovery Faust resumes the source partitions, seeks them to their committed offsets
    (about a second under load, the fetcher delivering all the while) and only then resumes
    the flow, which was never suspended: the records delivered meanwhile were dropped from
    the buffers although the consumer had marked them read, so they were not delivered
    again. In a partition the group had never committed, Faust then committed past them
    (it commits from the lowest acknowledged offset when it knows no committed one). Seen
    as the first record of a partition lost after a SIGKILL (docs/streams.md, "Exactly once").
    A rebalance still suspends the flow and clears the buffers, and its resume clears again.
    """

    def resume(self) -> None:
        if self.is_active():
            self._resume.set()
            return
        super().resume()


class _App(faust.App):
    @cached_property
    def flow_control(self) -> FlowControlEvent:
        return _FlowControl(loop=self.loop)


def _consumer_class(
    app: faust.App, settings: StreamsSettings, direct_delivery: bool = True
) -> type[FaustConsumer]:
    """Faust's consumer with our fetch wait, records handed to the conductor directly
    (`streams.intake.DirectDelivery`) and, if asked, confirmed changelog ends."""
    wait_ms = settings.fetch_max_wait_ms
    thread = type("FetchWaitThread", (_FetchWaitConsumerThread,), {"fetch_max_wait_ms": wait_ms})
    confirm = settings.confirm_changelog_ends
    bootstrap = settings.kafka_bootstrap
    client = settings.kafka_client_options()

    base: tuple[type, ...] = (FaustConsumer,)
    if direct_delivery:
        base = (DirectDelivery, FaustConsumer)

    class Consumer(*base):  # type: ignore[misc]
        def _new_consumer_thread(self) -> Any:
            return thread(self, loop=self.loop, beacon=self.beacon)

        async def highwaters(self, *partitions: TP) -> Mapping[TP, int]:
            reported = await super().highwaters(*partitions)
            if not confirm:
                return reported
            return await confirmed_ends(bootstrap, reported, client=client)

    return Consumer


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


def adjust_transport(
    app: faust.App, settings: StreamsSettings, direct_delivery: bool = True
) -> None:
    """The transport fixes every app of ours gets (see the functions above); without
    `direct_delivery`, records reach the conductor Faust's way (the bench's bare agent)."""
    app.transport.Consumer = _consumer_class(app, settings, direct_delivery)
    _flush_completely(app)


_startup_frozen = False


def _freeze_startup_objects() -> None:
    """Move what exists when the agent first starts out of the garbage collector's reach.

    Modules, Faust's and aiokafka's machinery, the catalog and the app live as long as the
    process: about 80,000 objects, which every full collection scanned again (2-3 per 12,000
    events, 0.11-0.16 s of 1.5 s CPU in bench/streams_bench.py; 0.02 s frozen). Frozen once
    per process (`gc.freeze`); what comes later, the patients' states included, is collected
    as before.
    """
    global _startup_frozen
    if not _startup_frozen:
        _startup_frozen = True
        gc.freeze()


def create_app(
    settings: StreamsSettings,
    catalog: Any,
    *,
    sink: OutputSink | None = None,
    metrics: StreamsMetrics | None = None,
) -> faust.App:
    """A new app with the patient agent; `sink` replaces the output topics in tests."""
    names = TopicNames(settings.topic_prefix)
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    app = _App(settings.app_id, **faust_settings(settings))
    # Faust uses transactions only "in a worker" (`app.in_transaction` reads `in_worker`,
    # which only its own `faust worker` command sets): without this, exactly_once silently
    # ran at least once. Our worker is one; set it before the consumer and producer exist.
    app.in_worker = settings.processing_guarantee == "exactly_once"
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
        FaustTableStore(patients, names.ticks),
        FaustTableStore(clock, names.ticks),
        catalog=catalog,
        sink=sink or FaustSink(app, names, settings.partitions),
        names=names,
        metrics=metrics or StreamsMetrics(),
        bucket_seconds=settings.due_bucket_seconds,
        ticks=TickRule(settings.simulated_time, timedelta(seconds=settings.tick_skew_seconds)),
        parking=ParkingPolicy(timedelta(days=settings.park_days), settings.park_limit),
        state_cache=settings.state_cache,
    )

    # concurrency=1: offsets must not be committed past an event still in flight. Batches:
    # each patient is settled and written once per batch, its outputs acknowledged at once;
    # Faust acknowledges a batch's records once the body has finished with them.
    crashed = asyncio.Event()

    @app.agent(source, name="patient", concurrency=1)
    async def patient(stream: faust.StreamT[bytes]) -> None:
        processor.agent_starts += 1
        _freeze_startup_objects()
        try:
            await _consume(stream)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            # Faust would restart the agent and commit offsets past records never handled;
            # the worker stops instead (streams.worker), and its orchestrator restarts it.
            processor.crash = exc
            crashed.set()
            log.critical("patient agent crashed: the worker stops", exc_info=exc)
            raise

    async def _consume(stream: faust.StreamT[bytes]) -> None:
        intake = batches(stream, settings.batch_records, settings.batch_seconds)
        async with contextlib.aclosing(intake):  # a failed batch is untracked, not acked
            async for events in intake:
                await processor.handle_batch(
                    [
                        Incoming(
                            e.message.value,
                            e.message.topic,
                            e.message.partition,
                            e.message.offset,
                            e.message.key,
                            e.message.timestamp,
                        )
                        for e in events
                    ]
                )

    app.streams_processor = processor  # type: ignore[attr-defined]
    app.streams_crashed = crashed  # type: ignore[attr-defined]
    return app
