"""The patient agent under Faust's test_context: a fresh app per test, memory:// tables."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from itertools import count
from types import SimpleNamespace

import faust
import pytest

import streams.app
from models.outputs import Reminder, ReminderCancelled, parse_output
from models.protocols import Catalog
from models.state import load_state
from streams.app import create_app
from streams.codecs import Stored, encode_tick
from streams.settings import StreamsSettings
from streams.sink import MemorySink
from streams.topics import TopicNames
from tests.unit.streams.conftest import T0, AgentDriver, count_settles, event, treated

NAMES = TopicNames("rw.")
_ids = count()


class ChangelogRecorder:
    """Stands in for the producer the table writes go to: keeps them, acknowledges at once."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes | None, bytes | None, int | None]] = []

    async def send(self, topic, key, value, partition, timestamp, headers):  # type: ignore[no-untyped-def]
        self.records.append((topic, key, value, partition))
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        done.set_result(SimpleNamespace(offset=len(self.records) - 1))
        return done

    # aiokafka's batch interface, which batched table writes use (streams.sink.send_batches)
    def create_batch(self) -> BatchRecorder:
        return BatchRecorder()

    async def send_batch(self, batch, topic, *, partition):  # type: ignore[no-untyped-def]
        first = len(self.records)
        self.records += [(topic, key, value, partition) for key, value in batch]
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        done.set_result(SimpleNamespace(offset=first))
        return done


class BatchRecorder(list[tuple[bytes | None, bytes | None]]):
    def append(self, *, timestamp, key, value):  # type: ignore[no-untyped-def,override]
        super().append((key, value))
        return self

    def close(self) -> None:
        pass


@dataclass
class Harness:
    app: faust.App
    sink: MemorySink
    driver: AgentDriver
    changelog: ChangelogRecorder

    def stored(self, patient_id: str) -> Stored | None:
        raw = self.app.tables["patients"].get(patient_id)
        return None if raw is None else Stored.decode(raw)

    def reminders(self) -> list[Reminder | ReminderCancelled]:
        return [parse_output(r.value) for r in self.sink.on(NAMES.reminders)]  # type: ignore[misc]

    def dead_letters(self) -> list[dict[str, object]]:
        return [json.loads(r.value) for r in self.sink.on(NAMES.deadletter)]


@pytest.fixture
async def harness(catalog: Catalog) -> AsyncIterator[Harness]:
    settings = StreamsSettings(
        partitions=2, app_id=f"unit-{next(_ids)}", store="memory://", simulated_time=True
    )
    sink = MemorySink()
    app = create_app(settings, catalog, sink=sink)
    app.finalize()
    changelog = ChangelogRecorder()
    app.producer.send = changelog.send  # type: ignore[method-assign]  # no broker here
    app.producer._ensure_producer = lambda: changelog  # type: ignore[method-assign]
    try:
        async with app.agents["patient"].test_context() as agent:
            driver = AgentDriver(agent, app.streams_processor)  # type: ignore[attr-defined]
            yield Harness(app, sink, driver, changelog)
    finally:
        # The consumer's thread was created but never started, so nothing closes its loop.
        app.consumer._thread.thread_loop.close()


async def feed(h: Harness, records: list[bytes], partition: int = 0) -> None:
    for raw in records:
        await h.driver.send(NAMES.patients, raw, partition)


async def tick(h: Harness, days: int, partition: int = 0) -> None:
    await h.driver.send(NAMES.ticks, encode_tick(T0 + timedelta(days=days)), partition)


async def test_events_fold_into_the_table_with_a_snapshot_per_change(harness: Harness) -> None:
    await feed(harness, treated("p1"))
    first = harness.stored("p1")
    await feed(harness, treated("p1")[:1])  # a redelivered enrolment changes nothing...

    stored = harness.stored("p1")
    assert stored is not None
    assert stored == first
    assert load_state(stored.state).event_count == 3
    assert stored.wake_at is not None
    snapshots = harness.sink.on(NAMES.patient_state)
    # ...but writes the same snapshot again, in case a crash lost the first one
    assert [s.key for s in snapshots] == ["p1"] * 4
    assert snapshots[-1].value == snapshots[-2].value == stored.state


async def test_a_tick_emits_what_is_due_once_per_reminder_id(harness: Harness) -> None:
    await feed(harness, treated("p1"))
    await tick(harness, 70)
    first = harness.reminders()
    assert [type(r) for r in first] == [Reminder]

    await tick(harness, 70)  # the same tick redelivered
    await tick(harness, 69)  # an older tick
    assert harness.reminders() == first

    await tick(harness, 200)
    later = harness.reminders()
    emitted = [r.reminder_id for r in later if isinstance(r, Reminder)]
    assert len(emitted) == len(set(emitted)) > 1
    assert all(r.patient_id == "p1" for r in later)


async def test_an_event_settles_at_the_partitions_latest_tick(harness: Harness) -> None:
    await feed(harness, treated("p1"))
    await tick(harness, 120)
    visit_due = [r for r in harness.reminders() if isinstance(r, Reminder)][-1]
    assert visit_due.item == "history_physical"

    at = T0 + timedelta(days=110)
    await feed(harness, [event("p1", "p1-visit", "visit.completed", at)])

    cancelled = harness.reminders()[-1]
    assert isinstance(cancelled, ReminderCancelled)
    assert cancelled.reminder_id == visit_due.reminder_id
    assert cancelled.emitted_at == T0 + timedelta(days=120)


async def test_a_tick_settles_only_the_patients_due(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await feed(harness, treated("due-1"))
    for n in range(20):  # treated a year later: nothing due for a long time
        await feed(harness, treated(f"later-{n}", T0 + timedelta(days=365)))
    settled = count_settles(monkeypatch)
    await tick(harness, 70)

    assert settled == ["due-1"]
    assert {r.patient_id for r in harness.reminders()} == {"due-1"}


async def test_due_index_keys_carry_the_partition(harness: Harness) -> None:
    await feed(harness, treated("p-zero"), partition=0)
    await feed(harness, treated("p-one"), partition=1)
    keys = set(harness.app.tables["clock"].keys())
    assert {k.split(":", 1)[0] for k in keys} == {"0", "1"}

    await tick(harness, 70, partition=1)
    assert {r.patient_id for r in harness.reminders()} == {"p-one"}
    await tick(harness, 70, partition=0)
    assert {r.patient_id for r in harness.reminders()} == {"p-one", "p-zero"}


async def test_a_redelivery_restores_a_due_index_entry_lost_in_a_crash(harness: Harness) -> None:
    """A crash can keep an event's patients write and lose its due-index write (two topics);
    the redelivered event changes no state but files the patient again."""
    await feed(harness, treated("p1"))
    clock = harness.app.tables["clock"]
    buckets = [k for k in clock if ":due:" in k]
    assert buckets
    for key in buckets:  # the index write never reached the broker
        del clock.data[key]

    await feed(harness, treated("p1")[-1:])  # redelivered after the restart
    await tick(harness, 70)

    assert [r.patient_id for r in harness.reminders()] == ["p1"]


async def test_a_tick_is_recorded_done_only_after_its_writes_are_flushed(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await feed(harness, treated("p1"))
    order: list[str] = []
    processor = harness.app.streams_processor  # type: ignore[attr-defined]
    real_write, real_flush = processor.clock.write, harness.sink.flush

    async def write(partition, key, value):  # type: ignore[no-untyped-def]
        order.append("clock" if key.endswith(":clock") else "bucket")
        await real_write(partition, key, value)

    async def flush() -> None:
        order.append("flush")
        await real_flush()

    monkeypatch.setattr(processor.clock, "write", write)
    monkeypatch.setattr(harness.sink, "flush", flush)
    await tick(harness, 70)

    assert "bucket" in order  # the patient was re-filed
    assert order.index("flush") > max(i for i, w in enumerate(order) if w == "bucket")
    assert order[-1] == "clock" and order.count("flush") == 1


async def test_table_writes_go_to_the_changelog_partition_of_their_record(
    harness: Harness,
) -> None:
    await feed(harness, treated("p-one"), partition=1)
    patients = [r for r in harness.changelog.records if r[0].endswith("-patients-changelog")]
    clock = [r for r in harness.changelog.records if r[0].endswith("-clock-changelog")]

    assert {(key, partition) for _, key, _, partition in patients} == {(b'"p-one"', 1)}
    assert patients[-1][2] == harness.app.tables["patients"]["p-one"]  # the value as stored
    assert clock and {partition for *_, partition in clock} == {1}


async def test_bad_input_is_dead_lettered_and_the_stream_goes_on(harness: Harness) -> None:
    enrol, started, completed = treated("p1")
    phone = "+15551234567"
    bad = [
        (NAMES.labs, b"\xff\xfe not json"),
        (NAMES.labs, b'{"type": "lab.exploded"}'),
        (NAMES.patients, event("p1", "x1", "patient.enrolled", T0, site="breast", stage="IIID")),
        (NAMES.checkins, event("p1", "x2", "checkin.answered", T0, phone=phone)),
        (NAMES.scans, event("ghost", "x3", "visit.completed", T0)),
        (NAMES.patients, None),
        (NAMES.ticks, b'{"type": "tick"}'),
    ]
    await harness.driver.send(NAMES.patients, enrol)
    for topic, raw in bad[:4]:
        await harness.driver.send(topic, raw)
    await harness.driver.send(NAMES.patients, started)
    for topic, raw in bad[4:]:
        await harness.driver.send(topic, raw)
    await harness.driver.send(NAMES.patients, completed)

    letters = harness.dead_letters()
    assert [(d["topic"], d["partition"]) for d in letters] == [(t, 0) for t, _ in bad]
    assert [d["value_b64"] for d in letters] == [
        None if raw is None else base64.b64encode(raw).decode() for _, raw in bad
    ]
    assert len({d["offset"] for d in letters}) == len(bad)
    assert all(phone not in str(d["reason"]) for d in letters)
    assert "does not belong on this topic" in str(letters[4]["reason"])
    stored = harness.stored("p1")
    assert stored is not None and load_state(stored.state).event_count == 3
    assert harness.stored("ghost") is None


async def test_the_agent_freezes_what_exists_at_its_first_start_once(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Modules and Faust's machinery live as long as the process: full collections skip them.
    gc.unfreeze()
    monkeypatch.setattr(streams.app, "_startup_frozen", False)
    settings = StreamsSettings(app_id=f"unit-{next(_ids)}", store="memory://")
    for first in (True, False):
        app = create_app(settings, catalog, sink=MemorySink())
        app.finalize()
        try:
            async with app.agents["patient"].test_context():
                await asyncio.sleep(0)  # the agent's body starts
                assert app.streams_processor.agent_starts == 1  # type: ignore[attr-defined]
                assert (gc.get_freeze_count() > 0) is first  # a second start freezes nothing
                gc.unfreeze()
        finally:
            app.consumer._thread.thread_loop.close()
    assert gc.get_freeze_count() == 0
