"""A crash between a batch's writes (two changelogs) must not lose a patient's wake-up.

Seen in the restart test under load: a worker was killed after a tick batch's patient records
reached the patients changelog but before its due-index buckets (and its clock) reached the
clock changelog. The next worker saw the redelivered tick, found the old due-index entries
stale (the patient records had moved on) and dropped them, while the entries the records
pointed at had been lost: 52 patients were never woken again, 52 reminders never sent.
"""

from __future__ import annotations

from datetime import timedelta

from models.outputs import Reminder, parse_output
from models.protocols import Catalog
from streams.codecs import Stored, encode_tick
from streams.metrics import StreamsMetrics
from streams.processor import Incoming, PatientProcessor, TickRule
from streams.settings import StreamsSettings
from streams.sink import MemorySink
from streams.topics import TopicNames
from tests.unit.streams.conftest import T0, patient_key, treated

NAMES = TopicNames()
PATIENTS = ["p1", "p2", "p3"]


def made(
    catalog: Catalog, patients: dict[str, bytes], clock: dict[str, bytes]
) -> tuple[PatientProcessor, MemorySink]:
    sink = MemorySink()
    processor = PatientProcessor(
        patients,
        clock,
        catalog=catalog,
        sink=sink,
        names=NAMES,
        metrics=StreamsMetrics(),
        bucket_seconds=StreamsSettings().due_bucket_seconds,
        ticks=TickRule(simulated=True),
    )
    return processor, sink


def tick(at_days: int) -> Incoming:
    return Incoming(encode_tick(T0 + timedelta(days=at_days)), NAMES.ticks, 0, 0)


def reminder_ids(*sinks: MemorySink) -> set[str]:
    outputs = [parse_output(r.value) for sink in sinks for r in sink.on(NAMES.reminders)]
    return {o.reminder_id for o in outputs if isinstance(o, Reminder)}


async def test_a_tick_whose_due_index_writes_were_lost_wakes_everyone_again(
    catalog: Catalog,
) -> None:
    events = [
        Incoming(raw, NAMES.patients, 0, n, patient_key(raw))
        for pid in PATIENTS
        for n, raw in enumerate(treated(pid))
    ]
    ticks = [tick(d) for d in (70, 130, 200, 300, 400)]

    whole, sink = made(catalog, {}, {})
    await whole.handle_batch(events)
    for record in ticks:
        await whole.handle_batch([record])
    want = reminder_ids(sink)

    patients: dict[str, bytes] = {}
    clock: dict[str, bytes] = {}
    first, first_sink = made(catalog, patients, clock)
    await first.handle_batch(events)
    before_tick = dict(clock)
    wake_before = {pid: Stored.decode(patients[pid]).wake_at for pid in PATIENTS}
    await first.handle_batch([ticks[0]])
    assert all(Stored.decode(patients[p]).wake_at != wake_before[p] for p in PATIENTS)
    # killed: the patient records of the tick's batch survived, its clock writes did not
    clock.clear()
    clock.update(before_tick)

    second, second_sink = made(catalog, patients, clock)
    for record in ticks:  # the tick is redelivered (its offset was never committed)
        await second.handle_batch([record])

    assert want and reminder_ids(first_sink, second_sink) == want
