"""What the patient agent does with a batch of records: decode, evolve, settle, store, emit.

No rules live here; `models.state.evolve` and `models.clocks.settle` hold them all.

A batch (`streams.intake.batches`) is worked in memory and written once at its end, in the order
that keeps a crash harmless:

1. the outputs (reminders, cancellations, alerts) are published and acknowledged, so a state
   that remembers a reminder as emitted can never reach the table without the reminder;
2. each changed patient is written once (table and snapshot), each changed due-index bucket
   once;
3. if the batch held a tick, the producer is flushed and only then are the partitions' clocks
   written: a clock saying "this tick is done" never outlives the work it stands for.

The intake acknowledges the batch's records after all of this, and Faust commits their offsets
after a flush of the producer. A crash anywhere redelivers the batch; what it finds half written is
repaired: a patient's event that changes nothing is written again, with its index entry.

Each patient's events in a batch are folded in the order they occurred (any order gives the same
state) and settled once, before a tick of its partition and at the end of the batch; a patient
that fails to settle is worked again event by event, so that the one record at fault goes to
the deadletter topic alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from faust.types import TP
from pydantic import ValidationError

from models.clocks import Plan, Settlement, lab_code_mapped, settle
from models.events import EARLIEST, LATEST, Event, LabResulted
from models.outputs import CareTeamAlert, Output
from models.parking import (
    NO_PARKING,
    Admission,
    Parking,
    ParkingPolicy,
    ParkingRefused,
    admit,
    expire,
    wake_at,
)
from models.state import (
    PatientState,
    UnknownPatient,
    dump_state,
    evolve,
    load_state,
)
from streams.codecs import (
    BadInput,
    Stored,
    check_record,
    decode_event,
    decode_tick,
    encode_dead_letter,
    encode_output,
    validation_summary,
)
from streams.due_index import DueIndex
from streams.exactly_once import transactional_id
from streams.metrics import StreamsMetrics
from streams.sink import OutputSink, Record, send_batches
from streams.topics import TopicNames

log = logging.getLogger(__name__)


# A batch lets the event loop run every this many records, and again every this many patients
# it settles: a batch of 2000 takes 0.1-0.2 s of CPU (bench/streams_bench.py), and the loop
# is shared with Faust's fetch loop (which moves fetched records to the agent's queue so the
# consumer can fetch more) and with the health heartbeat.
_YIELD_EVERY = 250


class TableStore(Protocol):
    """A table as the processor uses it: read a key, write a key to a changelog partition."""

    def get(self, key: str) -> bytes | None: ...

    def keys(self) -> Iterable[str]: ...

    async def write(self, partition: int, key: str, value: bytes | None) -> None: ...

    async def write_many(self, writes: list[tuple[int, str, bytes | None]]) -> None:
        """`write` each (partition, key, value), in order; possibly batched."""


class MappingStore:
    """A plain mapping as a table: unit tests and what-if runs (no changelog)."""

    def __init__(self, data: MutableMapping[str, bytes]) -> None:
        self.data = data

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def keys(self) -> Iterable[str]:
        return self.data.keys()

    async def write(self, partition: int, key: str, value: bytes | None) -> None:
        if value is None:
            self.data.pop(key, None)
        else:
            self.data[key] = value

    async def write_many(self, writes: list[tuple[int, str, bytes | None]]) -> None:
        for partition, key, value in writes:
            await self.write(partition, key, value)


class FaustTableStore:
    """A Faust table written with an explicit changelog partition.

    `table[key] = value` takes the partition from the event being processed, which a batch of
    events from several partitions does not have (the DESIGN.md trap "tables cannot be
    written inside take() batches"). What that assignment does is done here directly: the
    store is set, and the changelog record (the key and value serialized as the table's
    serializers do) goes to the app's producer with the partition of the record that caused
    the write; its offset is handed to the store, as Faust's callback would. Faust flushes the
    same producer before it commits offsets. Handing the record to the producer directly
    skips Faust's per-record buffer and bookkeeping, which cost more than the write.
    """

    def __init__(self, table: Any, source_topic: str | None = None) -> None:
        self.table = table
        self.data = table.data
        self.topic: str = table.changelog_topic.get_topic_name()
        # exactly_once: a source topic of the agent, naming the co-partitioned group whose
        # partition's transaction carries each write (streams.exactly_once)
        self.source_topic = source_topic or self.topic
        serializers = table.app.serializers
        self._key = functools.partial(
            serializers.dumps_key, table.key_type, serializer=table.key_serializer
        )
        self._value = functools.partial(
            serializers.dumps_value, table.value_type, serializer=table.value_serializer
        )

    def get(self, key: str) -> bytes | None:
        value: bytes | None = self.data.get(key)
        return value

    def keys(self) -> Iterable[str]:
        keys: Iterable[str] = self.data.keys()
        return keys

    def _apply(self, key: str, value: bytes | None) -> bytes | None:
        """Set (or delete) the key in the store; the changelog value to send."""
        if value is None:
            if key in self.data:
                del self.data[key]
            return None
        self.data[key] = value
        payload: bytes = self._value(value)
        return payload

    async def write(self, partition: int, key: str, value: bytes | None) -> None:
        payload = self._apply(key, value)
        app = self.table.app
        txn: dict[str, str] = {}
        if app.in_transaction:  # exactly_once: in the transaction of the partition's offsets
            txn["transactional_id"] = transactional_id(app, self.source_topic, partition)
        sent = await app.producer.send(
            self.topic, self._key(key), payload, partition, None, None, **txn
        )
        sent.add_done_callback(functools.partial(self._persisted, TP(self.topic, partition)))

    async def write_many(self, writes: list[tuple[int, str, bytes | None]]) -> None:
        """`write` each, handed to the producer as whole batches (`streams.sink.send_batches`);
        under exactly_once, record by record in their partitions' transactions."""
        app = self.table.app
        if app.in_transaction:
            for partition, key, value in writes:
                await self.write(partition, key, value)
            return
        placed = [
            (self.topic, partition, self._key(key), self._apply(key, value))
            for partition, key, value in writes
        ]
        await send_batches(app.producer._ensure_producer(), placed, self._batch_sent)

    def _batch_sent(self, topic: str, partition: int, count: int, sent: Any) -> None:
        tp = TP(topic, partition)
        sent.add_done_callback(lambda done: self._persisted(tp, done, count - 1))

    def _persisted(self, tp: TP, sent: Any, last: int = 0) -> None:
        """The changelog offset the store has persisted (`last`: of the batch's first)."""
        if not sent.cancelled() and sent.exception() is None:
            self.data.set_persisted_offset(tp, sent.result().offset + last)


def as_store(table: TableStore | MutableMapping[str, bytes]) -> TableStore:
    return table if hasattr(table, "write") else MappingStore(table)  # type: ignore[arg-type,return-value]


class StateCache:
    """Decoded states by patient, each with the serialized bytes it was decoded from, so a hot
    patient is not re-parsed per batch.

    One entry per patient, its latest version: a patient written several times does not crowd
    others out with versions nobody will read again (keyed by bytes, three events of one
    patient in three batches took three entries, and a tick then re-parsed most of its due
    patients). The table stays the only truth: a state is returned only for the exact bytes
    it was decoded from or dumped to, so a value recovered or written elsewhere misses.
    """

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._states: OrderedDict[str, tuple[bytes, PatientState, Plan | None]] = OrderedDict()

    def load(self, patient_id: str, data: bytes) -> tuple[PatientState, Plan | None]:
        """The state stored as `data`, and the clocks' plan of its facts if one was kept."""
        entry = self._states.get(patient_id)
        if entry is not None and (entry[0] is data or entry[0] == data):
            self._states.move_to_end(patient_id)
            return entry[1], entry[2]
        state = load_state(data)
        self.remember(patient_id, data, state, None)
        return state, None

    def remember(
        self, patient_id: str, data: bytes, state: PatientState, plan: Plan | None
    ) -> None:
        self._states[patient_id] = (data, state, plan)
        self._states.move_to_end(patient_id)
        while len(self._states) > self.size:
            self._states.popitem(last=False)


@dataclass(frozen=True)
class Incoming:
    """One record as read: its bytes, where it was, its key and the broker's record time."""

    value: bytes | None
    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    timestamp: float | None = None  # seconds since the epoch (Kafka's record timestamp)

    @property
    def origin(self) -> tuple[str, int, int]:
        return self.topic, self.partition, self.offset


@dataclass(frozen=True)
class TickRule:
    """Which ticks to believe (docs/streams.md, "Time").

    Wall-clock mode (production): a tick's `now` must lie within `skew` of its record's broker
    timestamp, so a wrong or skewed clock cannot move a partition's time. Simulated mode
    (demos, replays, tests): ticks carry the simulated instant and are believed. In both, a
    tick outside the range events may carry (1970-2099) is refused. A refused tick is
    dead-lettered, emits nothing and leaves the partition's clock where it was.
    """

    simulated: bool = False
    skew: timedelta = timedelta(minutes=5)

    def check(self, now: datetime, timestamp: float | None) -> None:
        if not EARLIEST <= now < LATEST:
            raise BadInput("tick: now outside 1970-01-01 to 2099-12-31")
        if self.simulated:
            return
        if timestamp is None or timestamp < 0:
            raise BadInput("tick: record has no broker timestamp (wall-clock mode)")
        drift = abs(now.timestamp() - timestamp)
        if drift > self.skew.total_seconds():
            raise BadInput(
                f"tick: now differs from its record's broker time by more than "
                f"{int(self.skew.total_seconds())} s (wall-clock mode)"
            )


@dataclass
class _Patient:
    """One patient while a batch is worked: as read, as folded so far, and what is pending."""

    partition: int
    stored: Stored | None  # the table value at the start of the batch
    loaded: PatientState | None  # its state, decoded
    state: PatientState | None  # folded and settled so far
    wake_at: datetime | None  # where the due index files the patient now
    parking: Parking = NO_PARKING  # events waiting for their enrolment or target
    pending: list[tuple[Event, Incoming]] = field(default_factory=list)  # read, not yet settled
    settled_state: PatientState | None = None  # the state before the pending events
    plan: Plan | None = None  # `models.clocks.Plan` of the settled facts, for the next settle
    repair: bool = False  # a repeated event: write everything again


@dataclass
class _Batch:
    patients: dict[str, _Patient] = field(default_factory=dict)
    outputs: list[Output] = field(default_factory=list)
    emitted: int = 0  # outputs[:emitted] are published and acknowledged
    dead: list[tuple[Incoming, str]] = field(default_factory=list)
    ticked: bool = False
    applied: int = 0


class PatientProcessor:
    """Applies batches of records to the patients table and the due index, and publishes
    what came due."""

    def __init__(
        self,
        patients: TableStore | MutableMapping[str, bytes],
        clock: TableStore | MutableMapping[str, bytes],
        *,
        catalog: Any,
        sink: OutputSink,
        names: TopicNames,
        metrics: StreamsMetrics,
        bucket_seconds: int,
        ticks: TickRule | None = None,
        parking: ParkingPolicy | None = None,
        state_cache: int = 20_000,
    ) -> None:
        self.patients = as_store(patients)
        self.clock = as_store(clock)
        self.index = DueIndex(self.clock, bucket_seconds, buffered=True)
        self.catalog = catalog
        self.sink = sink
        self.names = names
        self.metrics = metrics
        self.ticks = ticks or TickRule()
        self.parking = parking or ParkingPolicy()
        self._stems = {getattr(names, stem): stem for stem in _INPUT_STEMS}
        self._decoded = StateCache(state_cache)
        self._unmapped_logged: dict[str, float] = {}  # LOINC -> when it was last logged
        self.records_handled = 0  # records whose batch is written, dead letters included
        self.batches = 0  # batches written
        self.agent_starts = 0  # how often the agent (re)started: a restart is a crash
        self.crash: BaseException | None = None  # what stopped the agent, if anything

    async def handle(
        self,
        raw: bytes | None,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None = None,
        timestamp: float | None = None,
    ) -> None:
        """Process one record (a batch of one); bad input goes to deadletter, never raises."""
        await self.handle_batch([Incoming(raw, topic, partition, offset, key, timestamp)])

    async def handle_batch(self, records: list[Incoming]) -> None:
        """Process records in order; bad input goes to the deadletter topic and never raises."""
        ticking = any(record.topic == self.names.ticks for record in records)
        with _collector_paused() if ticking else contextlib.nullcontext():
            await self._handle_batch(records)

    async def _handle_batch(self, records: list[Incoming]) -> None:
        batch = _Batch()
        for n, record in enumerate(records, 1):
            if not n % _YIELD_EVERY:
                await asyncio.sleep(0)  # see _YIELD_EVERY
            try:
                if record.topic == self.names.ticks:
                    now = decode_tick(record.value).now
                    self.ticks.check(now, record.timestamp)
                    await self._tick(batch, now, record.partition)
                else:
                    event = decode_event(record.value)
                    check_record(event, key=record.key, topic_stem=self._stems[record.topic])
                    self._event(batch, event, record)
            except BadInput as exc:
                batch.dead.append((record, exc.reason))
        for n, (patient_id, patient) in enumerate(batch.patients.items(), 1):
            if not n % _YIELD_EVERY:
                await asyncio.sleep(0)
            self._settle_pending(batch, patient_id, patient)
        await self._commit(batch)
        self.records_handled += len(records)
        self.batches += 1

    # -- working a batch in memory -----------------------------------------------------------

    def _patient(self, batch: _Batch, patient_id: str, partition: int) -> _Patient:
        patient = batch.patients.get(patient_id)
        if patient is None:
            raw = self.patients.get(patient_id)
            stored = None if raw is None else Stored.decode(raw)
            state, plan = None, None
            if stored and stored.state:
                state, plan = self._decoded.load(patient_id, stored.state)
            wake = None if stored is None else stored.wake_at
            patient = _Patient(
                partition, stored, state, state, wake, settled_state=state, plan=plan
            )
            if stored is not None:
                patient.parking = stored.parking
            batch.patients[patient_id] = patient
        return patient

    def _event(self, batch: _Batch, event: Event, record: Incoming) -> None:
        patient = self._patient(batch, event.patient_id, record.partition)
        patient.pending.append((event, record))

    def _settle_pending(self, batch: _Batch, patient_id: str, patient: _Patient) -> None:
        """Fold a patient's pending events (and the parked ones they unblock) and settle once;
        on failure, event by event. Events that must wait are parked (`models.parking`)."""
        if not patient.pending:
            return
        pending, patient.pending = patient.pending, []
        tick_now = self.index.now(patient.partition)
        now = tick_now or max(event.recorded_at for event, _ in pending)
        arrived = [(event, record.origin) for event, record in pending]
        before = patient.parking
        try:
            admission = admit(patient.state, before, arrived, now, self.parking, tick_now)
        except Exception as exc:  # a fault in the core: these records alone, never the stream
            batch.dead.extend((record, _rejection(event, exc)) for event, record in pending)
            return
        self._admitted(batch, patient, admission, {r.origin: r for _, r in pending})
        for event, _ in admission.applied:
            if isinstance(event, LabResulted) and not lab_code_mapped(event.loinc, self.catalog):
                self._unmapped(event)
        if admission.state is None or not (admission.applied or patient.parking != before):
            self._rewake(patient_id, patient, patient.wake_at if patient.state else None)
            return
        if admission.applied:
            now = tick_now or max(event.recorded_at for event, _ in admission.applied)
        try:
            settlement = settle(patient.state, now, self.catalog, patient.plan)  # type: ignore[arg-type]
        except Exception:
            self._one_by_one(batch, patient_id, patient, tick_now, admission)
            return
        batch.applied += len(admission.applied)
        self._settled(batch, patient_id, patient, settlement)

    def _unmapped(self, event: LabResulted) -> None:
        """A result whose code no marker value set knows moves no clock: say so (issue 13).

        Every one is counted; the log says so once per code per `UNMAPPED_LOG_EVERY` seconds,
        not per result: a feed sending a code nobody maps would otherwise write a line per
        event (profiled: 1.0 s of the agent's 8.1 s in a bench run of 6,000 events, 1,000
        of them such results)."""
        self.metrics.unmapped_lab_results.labels(loinc=event.loinc).inc()
        clock = time.monotonic()
        last = self._unmapped_logged.get(event.loinc)
        if last is not None and clock - last < UNMAPPED_LOG_EVERY:
            return
        self._unmapped_logged[event.loinc] = clock
        log.warning(
            "lab result from %s under LOINC %s maps to no surveillance marker: it satisfies "
            "nothing (add the code to models/protocols/value_sets/markers.yaml if it should; "
            "rw_streams_unmapped_lab_results_total counts them, this line comes once an hour)",
            event.source,
            event.loinc,
        )

    def _admitted(
        self,
        batch: _Batch,
        patient: _Patient,
        admission: Admission,
        records: dict[tuple[str, int, int], Incoming],
    ) -> None:
        """Take what `admit` or `expire` decided: state, parking, dead letters and alerts."""
        for event, origin, exc in admission.refused:
            record = records.get(origin) if isinstance(origin, tuple) else None
            if record is None:  # parked in an earlier batch: its bytes are the event's JSON
                topic, partition, offset = origin if isinstance(origin, tuple) else ("?", -1, -1)
                record = Incoming(event.model_dump_json().encode(), topic, partition, offset)
            batch.dead.append((record, _rejection(event, exc)))
        batch.outputs.extend(admission.alerts)
        patient.state = admission.state
        patient.parking = admission.parking
        patient.repair = patient.repair or admission.repeated

    def _one_by_one(
        self,
        batch: _Batch,
        patient_id: str,
        patient: _Patient,
        tick_now: datetime | None,
        admission: Admission,
    ) -> None:
        """The folded events again from the last settled state, each settled on its own."""
        patient.state = patient.settled_state
        for event, origin in admission.applied:
            try:
                state = evolve(patient.state, event)
                settlement = settle(
                    state, tick_now or event.recorded_at, self.catalog, patient.plan
                )
            except Exception as exc:
                topic, partition, offset = origin  # type: ignore[misc]
                raw = event.model_dump_json().encode()
                batch.dead.append((Incoming(raw, topic, partition, offset), _rejection(event, exc)))
                continue
            batch.applied += 1
            self._settled(batch, patient_id, patient, settlement)

    def _settled(
        self, batch: _Batch, patient_id: str, patient: _Patient, settlement: Settlement
    ) -> None:
        batch.outputs.extend(settlement.outputs)
        patient.state = patient.settled_state = settlement.state
        patient.plan = settlement.plan
        patient.pending.clear()
        self._rewake(patient_id, patient, settlement.wake_at)

    def _rewake(self, patient_id: str, patient: _Patient, settled: datetime | None) -> None:
        """File the patient under the earlier of its clocks' wake-up and its parking's expiry."""
        wake = wake_at(settled, patient.parking, self.parking)
        if wake != patient.wake_at:
            self.index.move(patient.partition, patient_id, patient.wake_at, wake)
            patient.wake_at = wake

    async def _tick(self, batch: _Batch, now: datetime, partition: int) -> None:
        """Settle the partition's patients that are due at `now`; the others are not read."""
        if not self.index.is_new_tick(partition, now):
            return
        started = time.perf_counter()
        for patient_id, patient in batch.patients.items():
            if patient.partition == partition:  # events read before the tick come first
                self._settle_pending(batch, patient_id, patient)
        due = self.index.due(partition, now)
        floor = self.index.bucket(now)
        outputs_before, settled = len(batch.outputs), 0
        for entry in due:
            patient = self._patient(batch, entry.patient_id, partition)
            waiting = bool(patient.parking.events)
            unknown = patient.state is None and not waiting
            if unknown or patient.wake_at != entry.wake_at:
                # No patient, or a stale entry left by a move: the patient's record says when
                # it wakes. A crash between a batch's writes (two changelogs) can have lost
                # the entry filed there, so it is filed again, and settled now if due.
                own = None if unknown else patient.wake_at
                if own is None or own > now:
                    self.index.refile(partition, entry.patient_id, entry.bucket, own, floor=floor)
                    continue
            if waiting:
                expired = expire(patient.state, patient.parking, now, self.parking)
                self._admitted(batch, patient, expired, {})
            settled_wake = None
            if patient.state is not None:
                try:
                    settlement = settle(patient.state, now, self.catalog, patient.plan)
                except Exception:
                    # A fault in the core for one patient must not stop everyone's reminders.
                    log.exception("settle failed for a patient on a partition tick; skipped")
                    continue
                settled += 1
                batch.outputs.extend(settlement.outputs)
                patient.state = patient.settled_state = settlement.state
                patient.plan = settlement.plan
                settled_wake = settlement.wake_at
            wake = wake_at(settled_wake, patient.parking, self.parking)
            self.index.refile(partition, entry.patient_id, entry.bucket, wake, floor=floor)
            patient.wake_at = wake
            if len(batch.outputs) - batch.emitted >= EMIT_EVERY:
                await self._emit_so_far(batch)
        self.index.record_tick(partition, now)
        batch.ticked = True
        elapsed = time.perf_counter() - started
        self.metrics.tick_seconds.observe(elapsed)
        log.info(
            "tick %s on partition %d: %d due, %d settled, %d outputs in %.3fs",
            now.isoformat(),
            partition,
            len(due),
            settled,
            len(batch.outputs) - outputs_before,
            elapsed,
        )

    # -- writing a batch ---------------------------------------------------------------------

    async def _emit_so_far(self, batch: _Batch, acknowledged: bool = False) -> None:
        """Send the outputs of the batch not yet sent: a tick with thousands due sends its
        first reminders while it settles the rest, without waiting for the broker. Safe at
        any point, for no state is written before the end of the batch; there, with
        `acknowledged`, it returns once the broker has acknowledged every output sent."""
        await self._emit(batch.outputs[batch.emitted :], acknowledged)
        batch.emitted = len(batch.outputs)

    async def _commit(self, batch: _Batch) -> None:
        await self._emit_so_far(batch, acknowledged=True)
        writes: list[tuple[int, str, bytes | None]] = []
        snapshots: list[Record] = []
        for patient_id, patient in batch.patients.items():
            self._store(patient_id, patient, writes, snapshots)
        await self.patients.write_many(writes)
        await self.sink.publish_many_soon(snapshots)
        for record, reason in batch.dead:
            await self.dead_letter(
                record.value, record.topic, record.partition, record.offset, reason
            )
        buckets, clocks = self.index.drain()
        for key, value in buckets:
            await self.clock.write(_key_partition(key), key, value)
        if clocks and batch.ticked:
            await self.sink.flush()  # a tick's clock reaches the broker after its work
        for key, value in clocks:
            await self.clock.write(_key_partition(key), key, value)
        self.metrics.events_applied.inc(batch.applied)

    def _store(
        self,
        patient_id: str,
        patient: _Patient,
        writes: list[tuple[int, str, bytes | None]],
        snapshots: list[Record],
    ) -> None:
        """Add the patient's write (and snapshot) to the batch's if its state, wake-up instant
        or parked events changed, or everything again after a repeated event."""
        state, before = patient.state, patient.stored
        if state is None and not patient.parking:
            return
        unchanged = (
            state is patient.loaded
            and before is not None
            and before.wake_at == patient.wake_at
            and before.parking == patient.parking
        )
        if patient.repair and state is not None:
            self.index.ensure(patient.partition, patient_id, patient.wake_at)
        elif unchanged:
            return
        if state is None:
            dumped = b""
        else:
            dumped = before.state if state is patient.loaded and before else dump_state(state)
            self._decoded.remember(patient_id, dumped, state, patient.plan)
        after = Stored(dumped, patient.wake_at, patient.parking)
        if after == before and not patient.repair:
            return
        writes.append((patient.partition, patient_id, after.encode()))
        if dumped and (patient.repair or before is None or after.state != before.state):
            snapshots.append(Record(self.names.patient_state, patient_id, after.state))

    async def _emit(self, outputs: list[Output], acknowledged: bool = True) -> None:
        """Send outputs; with `acknowledged`, wait for the broker to acknowledge them and
        every output sent before (what must precede the state that remembers them)."""
        if not outputs:
            if acknowledged:
                await self.sink.publish([])
            return
        records = [
            Record(
                self.names.alerts if isinstance(o, CareTeamAlert) else self.names.reminders,
                o.patient_id,
                encode_output(o),
            )
            for o in outputs
        ]
        if acknowledged:
            await self.sink.publish(records)
        else:
            await self.sink.send(records)
            await asyncio.sleep(0)  # let the producer's sender put them on the wire now
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
        await self.sink.publish_soon(Record(self.names.deadletter, None, value, partition))
        self.metrics.dead_lettered.labels(topic=topic).inc()


UNMAPPED_LOG_EVERY = 3600.0  # seconds between two log lines about one unmapped LOINC
EMIT_EVERY = 100  # outputs: a tick sends what it has after this many more

_INPUT_STEMS = ("assessments", "scans", "labs", "patients", "checkins")


def _rejection(event: Event, exc: Exception) -> str:
    """Why the core refused an event, without echoing its values."""
    if isinstance(exc, ParkingRefused):
        return str(exc)
    if isinstance(exc, UnknownPatient):
        return f"{event.type} for a patient with no enrolment"
    if isinstance(exc, ValidationError):
        return f"{event.type} rejected by the fold: {validation_summary(exc)}"
    if isinstance(exc, ValueError):
        return f"{event.type} rejected by the fold: {str(exc)[:200]}"
    # A fault in the core must not stop the stream; the record stays replayable.
    log.error("%s could not be applied", event.type, exc_info=exc)
    return f"{event.type} failed in the core: {type(exc).__name__}"


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a tick runs.

    A worker holding many decoded states has a large old generation; a full collection of it
    took 0.3-0.6 s (profiled with 100,000 states cached), and one fell inside most ticks of
    10,000 due, delaying every reminder after it. The tick's own garbage is still freed by
    reference counting as it goes; cycles wait for the next collection, after the tick's
    reminders are out. (Until 2026-11 the old objects were frozen for the tick instead;
    thawing them also thawed what the agent freezes at its start, `streams.app`.)
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _key_partition(key: str) -> int:
    """Due-index keys start with their partition (see streams.due_index)."""
    return int(key.split(":", 1)[0])
