"""`OutputConsumer`: reminders and alerts from Kafka into the outbox; offsets committed after."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import OffsetAndMetadata
from pydantic import ValidationError

from models.outputs import parse_output
from notifier.clock import Clock
from notifier.metrics import NotifierMetrics
from notifier.outbox import Output, SqlOutbox

log = logging.getLogger(__name__)


class OutputConsumer:
    """At-least-once: a batch is written to the outbox (idempotent on reminder_id), then its
    offsets are committed. A crash in between means redelivery, which the unique key absorbs."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        outbox: SqlOutbox,
        clock: Clock,
        max_records: int = 2000,
        metrics: NotifierMetrics | None = None,
    ) -> None:
        self.consumer, self.outbox, self.clock = consumer, outbox, clock
        self.metrics = metrics
        self.max_records = max_records
        self.recorded = 0
        self.consumed = 0

    @classmethod
    def create(
        cls,
        bootstrap: str,
        topics: Sequence[str],
        group: str,
        outbox: SqlOutbox,
        clock: Clock,
        session_timeout_ms: int = 10_000,
        rebalance_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 1_000,
        fetch_max_wait_ms: int = 500,
        metrics: NotifierMetrics | None = None,
        client: Mapping[str, Any] | None = None,  # TLS/SASL: KafkaSecurity.kafka_client_options
    ) -> OutputConsumer:
        consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap,
            group_id=group,
            client_id="rw-notifier",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=session_timeout_ms,
            rebalance_timeout_ms=rebalance_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            fetch_max_wait_ms=fetch_max_wait_ms,
            # Never a record of an aborted transaction (a worker with exactly_once that died
            # mid-transaction): its redo need not hold the same reminders. Records written
            # without transactions are visible at once, as before.
            isolation_level="read_committed",
            **(client or {}),
        )
        return cls(consumer, outbox, clock, metrics=metrics)

    async def run(self, stop: asyncio.Event) -> None:
        await self.consumer.start()
        try:
            while not stop.is_set():
                await self.poll_once()
        finally:
            await self.consumer.stop()

    # For /healthz: when the last poll came back, and whether the last outbox write failed.
    last_poll: float | None = None
    write_failing: bool = False

    async def poll_once(self, timeout_ms: int = 500) -> int:
        batches = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=self.max_records)
        self.last_poll = time.monotonic()
        if self.metrics is not None:
            await self._measure(sum(len(records) for records in batches.values()))
        if not batches:
            return 0
        outputs = [out for records in batches.values() for out in self._decode(records)]
        self.consumed += sum(len(records) for records in batches.values())
        try:
            result = await asyncio.to_thread(self.outbox.record, outputs, self.clock())
        except Exception:
            log.exception("outbox write failed; rewinding %d partitions to retry", len(batches))
            for tp, records in batches.items():
                self.consumer.seek(tp, records[0].offset)
            self.write_failing = True
            await asyncio.sleep(1.0)
            return 0
        self.write_failing = False
        await self._commit({tp: records[-1].offset + 1 for tp, records in batches.items()})
        self.recorded += len(result.recorded)
        return len(outputs)

    async def _measure(self, read: int) -> None:
        assert self.metrics is not None
        self.metrics.consumed.inc(read)
        lag = 0
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            if high is not None:
                lag += max(high - await self.consumer.position(tp), 0)
        self.metrics.consumer_lag.set(lag)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self.consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
        except (CommitFailedError, KafkaError) as exc:
            # A rebalance took the partitions: the next owner re-reads and the outbox absorbs it.
            log.warning(
                "offset commit failed (%s); records will be redelivered", type(exc).__name__
            )

    @staticmethod
    def _decode(records: list[ConsumerRecord]) -> list[Output]:
        outputs: list[Output] = []
        for record in records:
            try:
                outputs.append(parse_output(record.value))
            except (ValidationError, TypeError, ValueError):
                # Skipped, not retried forever; the payload is not logged (it names a patient).
                log.error(
                    "undecodable record %s[%d]@%d skipped",
                    record.topic,
                    record.partition,
                    record.offset,
                )
        return outputs
