"""The processor's batches: what a batch changes against record-by-record, and what it must not."""

from __future__ import annotations

import gc
import json
from datetime import timedelta

import pytest

import models.clocks
import streams.processor
from models.outputs import Reminder, ReminderCancelled, parse_output
from models.protocols import Catalog
from models.state import load_state
from streams.codecs import Stored, encode_tick
from streams.processor import Incoming, PatientProcessor
from streams.sink import MemorySink, Record
from streams.topics import TopicNames
from tests.unit.streams.conftest import (
    T0,
    count_settles,
    event,
    memory_processor,
    patient_key,
    treated,
)

NAMES = TopicNames()


def processor(catalog: Catalog) -> tuple[PatientProcessor, dict[str, bytes], MemorySink]:
    return memory_processor(catalog, NAMES)


def records(raws: list[bytes], topic: str = NAMES.patients, partition: int = 0) -> list[Incoming]:
    return [
        Incoming(raw, topic, partition, offset, patient_key(raw)) for offset, raw in enumerate(raws)
    ]


def tick(days: int, partition: int = 0) -> Incoming:
    return Incoming(encode_tick(T0 + timedelta(days=days)), NAMES.ticks, partition, 0)


def state_of(patients: dict[str, bytes], patient_id: str):  # type: ignore[no-untyped-def]
    return load_state(Stored.decode(patients[patient_id]).state)


async def test_a_batch_ends_in_the_state_record_by_record_gives(catalog: Catalog) -> None:
    history = [*treated("p1"), event("p1", "p1-v", "visit.completed", T0 + timedelta(days=95))]
    one_by_one, singly, _ = processor(catalog)
    for record in records(history):
        await one_by_one.handle_batch([record])
    batched, together, sink = processor(catalog)
    await batched.handle_batch(records(list(reversed(history))))  # any order, one batch

    assert state_of(together, "p1") == state_of(singly, "p1")
    assert Stored.decode(together["p1"]).wake_at == Stored.decode(singly["p1"]).wake_at
    assert [r.key for r in sink.on(NAMES.patient_state)] == ["p1"]  # one snapshot per batch


async def test_an_event_before_its_enrolment_in_the_same_batch_is_applied(
    catalog: Catalog,
) -> None:
    enrolment, *rest = treated("p1")
    made, patients, sink = processor(catalog)
    await made.handle_batch(records([*rest, enrolment]))  # read out of order

    assert state_of(patients, "p1").event_count == 3
    assert sink.on(NAMES.deadletter) == []


async def test_a_reminder_due_and_satisfied_within_one_batch_is_never_sent(
    catalog: Catalog,
) -> None:
    made, _, sink = processor(catalog)
    await made.handle_batch(records(treated("p1")))
    visit = event("p1", "p1-v", "visit.completed", T0 + timedelta(days=118))
    await made.handle_batch([tick(120), *records([visit])])

    outputs = [parse_output(r.value) for r in sink.on(NAMES.reminders)]
    # The tick settles the partition before the visit is read: the reminder goes out, and
    # the visit in the same batch cancels it. Sent separately, the same would happen.
    assert [type(o) for o in outputs] == [Reminder, ReminderCancelled]

    made, _, sink = processor(catalog)
    await made.handle_batch(records(treated("p1")))
    await made.handle_batch([*records([visit]), tick(120)])  # the visit read first
    assert [parse_output(r.value) for r in sink.on(NAMES.reminders)] == []


async def test_a_fault_settling_a_batch_dead_letters_only_the_record_at_fault(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = streams.processor.settle

    def fragile(state, now, catalog, known=None):  # type: ignore[no-untyped-def]
        if state.patient_id == "p1" and state.event_count > 3:  # the bad event is the 4th
            raise RuntimeError("a fault in the core")
        return real(state, now, catalog, known)

    monkeypatch.setattr(streams.processor, "settle", fragile)
    made, patients, sink = processor(catalog)
    bad = event("p1", "p1-bad", "visit.completed", T0 + timedelta(days=40))
    await made.handle_batch(records([*treated("p1"), bad, *treated("p2")]))

    letters = [json.loads(r.value) for r in sink.on(NAMES.deadletter)]
    assert [(d["offset"], d["reason"]) for d in letters] == [
        (3, "visit.completed failed in the core: RuntimeError")
    ]
    assert state_of(patients, "p1").event_count == 3 and state_of(patients, "p2").event_count == 3


async def test_a_tick_settles_a_moved_patient_once_and_drops_its_stale_entry(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    made, _, _ = processor(catalog)
    await made.handle_batch(records(treated("p1")))
    first_wake = Stored.decode(made.patients.get("p1") or b"").wake_at
    visit = event("p1", "p1-v", "visit.completed", T0 + timedelta(days=60))
    await made.handle_batch(records([visit], partition=0))
    moved = Stored.decode(made.patients.get("p1") or b"").wake_at
    assert first_wake is not None and moved is not None and moved > first_wake

    settled = count_settles(monkeypatch)
    days_after_both = (moved - T0).days + 1
    await made.handle_batch([tick(days_after_both)])

    assert settled == ["p1"]
    woken = made.index.due(0, moved + timedelta(days=400))
    assert all(d.wake_at != first_wake for d in woken)  # the stale entry was dropped


async def test_a_tick_with_many_due_publishes_as_it_goes_and_writes_state_after(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams.processor, "EMIT_EVERY", 10)
    made, _, sink = processor(catalog)
    ids = [f"p{n}" for n in range(35)]
    await made.handle_batch(records([raw for pid in ids for raw in treated(pid)]))
    calls: list[tuple[str, int]] = []
    real_publish, real_send = sink.publish, sink.send

    async def publish(batch: list[Record]) -> None:
        calls.append(("acknowledged", len(batch)))
        await real_publish(batch)

    async def send(batch: list[Record]) -> None:
        calls.append(("sent", len(batch)))
        await real_send(batch)

    monkeypatch.setattr(sink, "publish", publish)
    monkeypatch.setattr(sink, "send", send)
    before = len(sink.records)
    await made.handle_batch([tick(70)])

    # As it goes, without waiting for the broker; the rest, and the acknowledgement of all,
    # before any state is written.
    assert calls == [("sent", 10), ("sent", 10), ("sent", 10), ("acknowledged", 5)]
    after = sink.records[before:]
    reminders = [i for i, r in enumerate(after) if r.topic == NAMES.reminders]
    states = [i for i, r in enumerate(after) if r.topic == NAMES.patient_state]
    assert len(reminders) == 35 and max(reminders) < min(states, default=len(after))


async def test_a_fault_deciding_what_to_park_dead_letters_that_patients_records_only(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = streams.processor.admit

    def fragile(state, parking, events, *args):  # type: ignore[no-untyped-def]
        if any(e.patient_id == "p1" for e, _ in events):
            raise RuntimeError("a fault in the core")
        return real(state, parking, events, *args)

    monkeypatch.setattr(streams.processor, "admit", fragile)
    made, patients, sink = processor(catalog)
    await made.handle_batch(records([*treated("p1"), *treated("p2")]))

    letters = [json.loads(r.value) for r in sink.on(NAMES.deadletter)]
    assert [d["reason"] for d in letters] == [
        f"{kind} failed in the core: RuntimeError"
        for kind in ("patient.enrolled", "treatment.started", "treatment.completed")
    ]
    assert "p1" not in patients and state_of(patients, "p2").event_count == 3


async def test_a_patient_written_in_many_batches_keeps_one_cache_entry(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The decoded-state cache holds each patient's latest version only: p1 written three
    times must not push p2 out of a cache of two (a tick would re-parse p2)."""
    run = processor(catalog)
    run.processor._decoded.size = 2
    await run.processor.handle_batch(records(treated("p2")))
    for raw in treated("p1"):
        await run.processor.handle_batch(records([raw]))
    parsed: list[str] = []
    real = streams.processor.load_state

    def counting(data: bytes):  # type: ignore[no-untyped-def]
        parsed.append(real(data).patient_id)
        return real(data)

    monkeypatch.setattr(streams.processor, "load_state", counting)
    await run.processor.handle_batch([tick(70)])  # both due (as in the test above)
    assert parsed == []
    assert {r.key for r in run.sink.on(NAMES.reminders)} == {"p1", "p2"}


async def test_a_tick_reuses_the_plan_of_the_patients_last_settlement(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing happened to p1 since its last event: the tick settles it on the plan kept from
    then (models.clocks.Plan), and computes only what depends on the instant."""
    run = processor(catalog)
    await run.processor.handle_batch(records(treated("p1")))
    planned: list[str] = []
    real = models.clocks.plan

    def counting(state, catalog):  # type: ignore[no-untyped-def]
        planned.append(state.patient_id)
        return real(state, catalog)

    monkeypatch.setattr(models.clocks, "plan", counting)
    await run.processor.handle_batch([tick(70)])
    assert [r.key for r in run.sink.on(NAMES.reminders)] == ["p1"]
    assert planned == []
    visit = event("p1", "p1-v", "visit.completed", T0 + timedelta(days=71))
    await run.processor.handle_batch(records([visit]))  # new facts: a new plan
    assert planned == ["p1"]


async def test_a_tick_runs_with_the_collector_paused_and_keeps_what_is_frozen(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full garbage collection of a large heap must not fall inside a tick: the collector
    is off while a tick's batch runs, and only then; what the agent froze at its start
    (streams.app) stays frozen."""
    run = processor(catalog)
    enabled: list[bool] = []
    real = streams.processor.settle

    def watching(state, now, catalog, known=None):  # type: ignore[no-untyped-def]
        enabled.append(gc.isenabled())
        return real(state, now, catalog, known)

    monkeypatch.setattr(streams.processor, "settle", watching)
    gc.freeze()  # as the agent does when it starts
    frozen = gc.get_freeze_count()
    assert gc.isenabled()
    await run.processor.handle_batch(records(treated("p1")))
    assert enabled and all(enabled)  # events: collected as ever
    enabled.clear()
    await run.processor.handle_batch([tick(70)])
    assert enabled and not any(enabled)
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
