"""What the patient agent does with one record: decode, evolve, settle, store, emit.

No rules live here; `models.state.evolve` and `models.clocks.settle` hold them all.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from models.clocks import Settlement, settle
from models.events import Event
from models.outputs import CareTeamAlert, Output
from models.state import PatientState, UnknownPatient, dump_state, evolve, load_state
from streams.codecs import (
    BadInput,
    Stored,
    decode_event,
    decode_tick,
    encode_dead_letter,
    encode_output,
    validation_summary,
)
from streams.due_index import Due, DueIndex
from streams.metrics import StreamsMetrics
from streams.sink import OutputSink, Record
from streams.topics import TopicNames

log = logging.getLogger(__name__)


class StateCache:
    """Decoded states by their serialized bytes, so a hot patient is not re-parsed per event.

    Keyed by the exact bytes stored in the table: the table stays the only truth, and a
    value recovered or written elsewhere simply misses the cache.
    """

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._states: OrderedDict[bytes, PatientState] = OrderedDict()

    def load(self, data: bytes) -> PatientState:
        state = self._states.get(data)
        if state is None:
            state = load_state(data)
            self.remember(data, state)
        else:
            self._states.move_to_end(data)
        return state

    def remember(self, data: bytes, state: PatientState) -> None:
        self._states[data] = state
        self._states.move_to_end(data)
        while len(self._states) > self.size:
            self._states.popitem(last=False)


@dataclass(frozen=True)
class Settled:
    """One patient's settlement on a tick, before it is stored."""

    due: Due
    stored: Stored
    settlement: Settlement


class PatientProcessor:
    """Applies records to the patients table and the due index, and publishes what came due."""

    def __init__(
        self,
        patients: MutableMapping[str, bytes],
        clock: MutableMapping[str, bytes],
        *,
        catalog: Any,
        sink: OutputSink,
        names: TopicNames,
        metrics: StreamsMetrics,
        bucket_seconds: int,
    ) -> None:
        self.patients = patients
        self.index = DueIndex(clock, bucket_seconds)
        self.catalog = catalog
        self.sink = sink
        self.names = names
        self.metrics = metrics
        self._decoded = StateCache()

    async def handle(self, raw: bytes | None, *, topic: str, partition: int, offset: int) -> None:
        """Process one record; bad input goes to the deadletter topic and never raises."""
        try:
            if topic == self.names.ticks:
                await self.on_tick(decode_tick(raw).now, partition)
            else:
                await self.on_event(decode_event(raw), partition)
        except BadInput as exc:
            await self.dead_letter(raw, topic, partition, offset, exc.reason)

    async def on_event(self, event: Event, partition: int) -> None:
        stored = self._stored(event.patient_id)
        now = self.index.now(partition) or event.recorded_at
        try:
            state = evolve(None if stored is None else self._decoded.load(stored.state), event)
            settlement = settle(state, now, self.catalog)
        except UnknownPatient:
            raise BadInput(f"{event.type} for a patient with no enrolment") from None
        except ValueError as exc:
            why = validation_summary(exc) if isinstance(exc, ValidationError) else str(exc)[:200]
            raise BadInput(f"{event.type} rejected by the fold: {why}") from None
        except Exception as exc:
            # A fault in the core must not stop the stream; the record stays replayable.
            log.exception("%s could not be applied", event.type)
            raise BadInput(f"{event.type} failed in the core: {type(exc).__name__}") from None
        await self._emit(settlement.outputs)
        old_wake = None if stored is None else stored.wake_at
        await self._store(stored, settlement)
        self.index.move(partition, event.patient_id, old_wake, settlement.wake_at)
        self.metrics.events_applied.inc()

    async def on_tick(self, now: datetime, partition: int) -> None:
        """Settle the partition's patients that are due at `now`; the others are not read."""
        if not self.index.is_new_tick(partition, now):
            return
        started = time.perf_counter()
        due = self.index.due(partition, now)
        settled = [s for d in due if (s := self._settle(d, partition, now))]
        await self._emit([output for s in settled for output in s.settlement.outputs])
        floor = self.index.bucket(now)
        for s in settled:
            await self._store(s.stored, s.settlement)
            pid = s.due.patient_id
            self.index.refile(partition, pid, s.due.bucket, s.settlement.wake_at, floor=floor)
        self.index.record_tick(partition, now)
        elapsed = time.perf_counter() - started
        self.metrics.tick_seconds.observe(elapsed)
        log.info(
            "tick %s on partition %d: %d due, %d settled, %d outputs in %.3fs",
            now.isoformat(),
            partition,
            len(due),
            len(settled),
            sum(len(s.settlement.outputs) for s in settled),
            elapsed,
        )

    def _settle(self, due: Due, partition: int, now: datetime) -> Settled | None:
        stored = self._stored(due.patient_id)
        if stored is None:  # an index entry without a patient: nothing to wake
            self.index.refile(partition, due.patient_id, due.bucket, None)
            return None
        try:
            settlement = settle(self._decoded.load(stored.state), now, self.catalog)
        except Exception:
            # A fault in the core for one patient must not stop everyone's reminders.
            log.exception("settle failed for a patient on partition tick; skipped")
            return None
        return Settled(due, stored, settlement)

    def _stored(self, patient_id: str) -> Stored | None:
        raw = self.patients.get(patient_id)
        return None if raw is None else Stored.decode(raw)

    async def _store(self, before: Stored | None, settlement: Settlement) -> None:
        """Write the state back (and snapshot it) when it or its wake-up instant changed."""
        state: PatientState = settlement.state
        after = Stored(dump_state(state), settlement.wake_at)
        self._decoded.remember(after.state, state)
        if after == before:
            return
        self.patients[state.patient_id] = after.encode()
        if before is None or after.state != before.state:
            snapshot = Record(self.names.patient_state, state.patient_id, after.state)
            await self.sink.publish_soon(snapshot)

    async def _emit(self, outputs: list[Output]) -> None:
        """Publish outputs and wait for the broker, before the state that remembers them."""
        if not outputs:
            return
        records = [
            Record(
                self.names.alerts if isinstance(o, CareTeamAlert) else self.names.reminders,
                o.patient_id,
                encode_output(o),
            )
            for o in outputs
        ]
        await self.sink.publish(records)
        alerts = sum(isinstance(o, CareTeamAlert) for o in outputs)
        self.metrics.alerts_emitted.inc(alerts)
        self.metrics.reminders_emitted.inc(len(outputs) - alerts)

    async def dead_letter(
        self, raw: bytes | None, topic: str, partition: int, offset: int, reason: str
    ) -> None:
        log.warning("dead-lettered %s[%d]@%d: %s", topic, partition, offset, reason)
        value = encode_dead_letter(
            raw, topic=topic, partition=partition, offset=offset, reason=reason
        )
        await self.sink.publish_soon(Record(self.names.deadletter, None, value))
        self.metrics.dead_lettered.labels(topic=topic).inc()
