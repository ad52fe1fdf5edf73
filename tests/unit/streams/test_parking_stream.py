"""The processor parks what cannot be folded yet, checks records at the edge, and guards time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.events import parse_event
from models.outputs import AlertKind, CareTeamAlert, parse_output
from models.protocols import Catalog
from models.state import load_state, replay
from remission_watch.cohort import patient_history
from streams.codecs import Stored, encode_tick
from streams.metrics import StreamsMetrics
from streams.processor import Incoming, PatientProcessor, TickRule
from streams.sink import MemorySink
from streams.topics import TopicNames
from tests.unit.streams.conftest import T0, event, memory_processor, patient_key, treated

NAMES = TopicNames()


def on(topic: str, raw: bytes, offset: int = 0, key: bytes | None = b"") -> Incoming:
    return Incoming(raw, topic, 0, offset, patient_key(raw) if key == b"" else key)


def tick(days: float, timestamp: float | None = None) -> Incoming:
    return Incoming(encode_tick(T0 + timedelta(days=days)), NAMES.ticks, 0, 0, None, timestamp)


def letters(sink: MemorySink) -> list[dict[str, object]]:
    return [json.loads(r.value) for r in sink.on(NAMES.deadletter)]


def alerts(sink: MemorySink) -> list[CareTeamAlert]:
    return [parse_output(r.value) for r in sink.on(NAMES.alerts)]  # type: ignore[misc]


def lab(patient_id: str, n: int, days: float) -> bytes:
    at = T0 + timedelta(days=days)
    return event(patient_id, f"{patient_id}-lab{n}", "lab.resulted", at, order_id=f"o{n}",
                 loinc="2039-6", value=1.5)  # fmt: skip


async def test_labs_before_the_enrolment_are_folded_when_it_arrives(catalog: Catalog) -> None:
    made, patients, sink = memory_processor(catalog, NAMES)
    await made.handle_batch([on(NAMES.labs, lab("p1", 1, 40), 0)])
    await made.handle_batch([on(NAMES.labs, lab("p1", 2, 50), 1)])
    assert Stored.decode(patients["p1"]).state == b""  # parked, nothing folded yet
    assert len(Stored.decode(patients["p1"]).parking.events) == 2

    await made.handle_batch([on(NAMES.patients, raw, n) for n, raw in enumerate(treated("p1"))])

    stored = Stored.decode(patients["p1"])
    assert load_state(stored.state).event_count == 5 and not stored.parking
    assert letters(sink) == []


async def test_a_self_harm_answer_alerts_at_once_before_any_enrolment(catalog: Catalog) -> None:
    made, _, sink = memory_processor(catalog, NAMES)
    answer = event("p9", "a1", "checkin.answered", T0, score=8, self_harm=True)
    await made.handle_batch([on(NAMES.checkins, answer)])

    assert [a.kind for a in alerts(sink)] == [AlertKind.SELF_HARM]
    await made.handle_batch([on(NAMES.patients, treated("p9", T0 - timedelta(days=1))[0], 1)])
    assert {a.alert_id for a in alerts(sink)} == {alerts(sink)[0].alert_id}  # one id only


async def test_a_parked_event_past_the_window_is_dead_lettered_and_the_team_told_once(
    catalog: Catalog,
) -> None:
    made, patients, sink = memory_processor(catalog, NAMES)
    await made.handle_batch([tick(0)])
    await made.handle_batch(
        [on(NAMES.labs, lab("p1", 1, 0), 7), on(NAMES.labs, lab("p1", 2, 0), 8)]
    )
    await made.handle_batch([tick(89)])
    assert letters(sink) == []

    await made.handle_batch([tick(91)])
    dead = letters(sink)
    assert [(d["topic"], d["offset"]) for d in dead] == [(NAMES.labs, 7), (NAMES.labs, 8)]
    assert all("no enrolment arrived within 90 days" in str(d["reason"]) for d in dead)
    assert [a.kind for a in alerts(sink)] == [AlertKind.UNMATCHED_EVENTS]
    assert Stored.decode(patients["p1"]).parking.told

    await made.handle_batch([on(NAMES.labs, lab("p1", 3, 95), 9), tick(200)])
    assert len(letters(sink)) == 3 and len(alerts(sink)) == 1  # told once


async def test_records_keyed_otherwise_or_on_another_topic_are_dead_lettered(
    catalog: Catalog,
) -> None:
    made, patients, sink = memory_processor(catalog, NAMES)
    enrol, started, completed = treated("p1")
    visit = event("p1", "p1-v", "visit.completed", T0 + timedelta(days=40))
    await made.handle_batch(
        [
            on(NAMES.patients, enrol, 0),
            on(NAMES.patients, started, 1, key=b"MRN-000123"),
            on(NAMES.patients, completed, 2, key=None),
            on(NAMES.labs, visit, 3),
        ]
    )
    reasons = [str(d["reason"]) for d in letters(sink)]
    assert reasons == [
        "treatment.started: record key is not the patient_id",
        "treatment.completed: record has no key (the key must be the patient_id)",
        "visit.completed does not belong on this topic",
    ]
    assert all("MRN" not in r for r in reasons)
    assert load_state(Stored.decode(patients["p1"]).state).event_count == 1


def wall_clock(catalog: Catalog) -> tuple[PatientProcessor, MemorySink]:
    sink = MemorySink()
    made = PatientProcessor(
        {}, {}, catalog=catalog, sink=sink, names=NAMES, metrics=StreamsMetrics(),
        bucket_seconds=3600, ticks=TickRule(simulated=False, skew=timedelta(minutes=5)),
    )  # fmt: skip
    return made, sink


async def test_a_tick_far_from_its_broker_time_is_refused_and_blocks_nothing(
    catalog: Catalog,
) -> None:
    made, sink = wall_clock(catalog)
    at = lambda days: (T0 + timedelta(days=days)).timestamp()  # noqa: E731
    enrolment = [on(NAMES.patients, raw, n) for n, raw in enumerate(treated("p1"))]
    await made.handle_batch([*enrolment, tick(0, at(0))])
    future = Incoming(
        encode_tick(datetime(2100, 1, 1, tzinfo=UTC) - timedelta(days=1)),
        NAMES.ticks, 0, 5, None, at(1),
    )  # fmt: skip
    await made.handle_batch([future])
    await made.handle_batch([tick(70, None)])  # no broker time at all

    assert [str(d["reason"]) for d in letters(sink)] == [
        "tick: now differs from its record's broker time by more than 300 s (wall-clock mode)",
        "tick: record has no broker timestamp (wall-clock mode)",
    ]
    assert sink.on(NAMES.reminders) == [] and sink.on(NAMES.alerts) == []

    await made.handle_batch([tick(70, at(70) + 60)])  # a real tick, one minute late
    assert [parse_output(r.value).type for r in sink.on(NAMES.reminders)] == ["reminder.due"]


async def test_a_tick_at_the_end_of_time_is_refused_at_once(catalog: Catalog) -> None:
    made, _, sink = memory_processor(catalog, NAMES)  # simulated time: ticks are believed...
    await made.handle_batch([on(NAMES.patients, raw, n) for n, raw in enumerate(treated("p1"))])
    raw = b'{"type":"tick","now":"9999-12-31T00:00:00Z"}'
    await made.handle_batch([Incoming(raw, NAMES.ticks, 0, 3)])  # ...but not outside the range

    assert [str(d["reason"]) for d in letters(sink)] == [
        "tick: now outside 1970-01-01 to 2099-12-31"
    ]
    await made.handle_batch([tick(70)])
    assert len(sink.on(NAMES.reminders)) == 1


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 10_000), data=st.data())
async def test_any_interleaving_across_topics_and_batches_gives_the_time_order_state(
    catalog: Catalog, seed: int, data: st.DataObject
) -> None:
    raw = patient_history("H1", seed, datetime(2022, 3, 1, 9, tzinfo=UTC), 20)
    events = [parse_event(r) for r in raw]
    arrived = data.draw(st.permutations(events))  # the enrolment anywhere
    cuts = sorted(data.draw(st.lists(st.integers(0, len(arrived)), max_size=5)))
    made, patients, sink = memory_processor(catalog, NAMES)
    offset = 0
    for a, b in zip([0, *cuts], [*cuts, len(arrived)], strict=True):
        batch = []
        for e in arrived[a:b]:
            batch.append(
                Incoming(e.model_dump_json().encode(), NAMES.for_event(e), 0, offset, b"H1")
            )
            offset += 1
        await made.handle_batch(batch)

    assert letters(sink) == []
    stored = Stored.decode(patients["H1"])
    assert not stored.parking.events
    expected = replay(events)["H1"]
    assert load_state(stored.state)._replace(emitted=()) == expected


async def test_a_correction_may_come_by_its_replacements_topic_or_patients(
    catalog: Catalog,
) -> None:
    made, patients, sink = memory_processor(catalog, NAMES)
    enrolment = [on(NAMES.patients, raw, n) for n, raw in enumerate(treated("p1"))]
    draw = json.loads(lab("p1", 1, 40))
    fixes = []
    for n, topic in enumerate((NAMES.labs, NAMES.patients, NAMES.scans)):
        replacement = dict(draw, event_id=f"fix{n}", value=1.0 + n)
        body = dict(draw, type="event.corrected", event_id=f"c{n}", target_event_id="p1-lab1",
                    replacement=replacement)  # fmt: skip
        for key in ("order_id", "loinc", "value"):
            body.pop(key)
        fixes.append(on(topic, json.dumps(body).encode(), 10 + n))
    await made.handle_batch([*enrolment, on(NAMES.labs, lab("p1", 1, 40), 5), *fixes])

    assert [(d["offset"], d["reason"]) for d in letters(sink)] == [
        (12, "event.corrected does not belong on this topic")
    ]
    assert load_state(Stored.decode(patients["p1"]).state).event_count == 4 + 2 * 2
