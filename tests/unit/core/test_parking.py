"""Parking: events before their enrolment or target wait, are folded when they can be, bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from models.events import Event, parse_event
from models.outputs import AlertKind
from models.parking import (
    NO_PARKING,
    Admission,
    Parking,
    ParkingPolicy,
    ParkingRefused,
    admit,
    dump_parking,
    expire,
    foldable,
    load_parking,
    wake_at,
)
from models.state import PatientState, evolve
from remission_watch.cohort import patient_history
from tests.unit.core.conftest import T0, EventFactory, make_event

POLICY = ParkingPolicy(window=timedelta(days=90), limit=5)
NOW = T0 + timedelta(days=400)


def history(seed: int, size: int = 30) -> list[Event]:
    raw = patient_history("H1", seed, datetime(2022, 3, 1, 9, tzinfo=UTC), size)
    events = [parse_event(r) for r in raw]
    labs = [e for e in events if e.type == "lab.resulted"]
    if labs:  # a correction and a retraction, whose targets may arrive after them
        target = labs[0]
        replacement = target.model_dump(mode="json") | {"event_id": "H1-fix", "value": 1.5}
        events.append(
            make_event(
                "H1-corr",
                900,
                "event.corrected",
                patient="H1",
                target_event_id=target.event_id,
                replacement=replacement,
            )
        )
        events.append(
            make_event("H1-retr", 901, "event.retracted", patient="H1", target_event_id="H1-fix")
        )
    return events


def time_order(events: list[Event]) -> PatientState:
    state = None
    for event in sorted(events, key=lambda e: (e.type != "patient.enrolled", e.occurred_at)):
        state = evolve(state, event)
    assert state is not None
    return state


def arrive(chunks: list[list[Event]], policy: ParkingPolicy = POLICY) -> Admission:
    """Events arriving in chunks (batches), each admitted against what came before; what
    was folded, refused and raised is gathered over all chunks."""
    total = Admission(None, NO_PARKING)
    for chunk in chunks:
        step = admit(total.state, total.parking, [(e, None) for e in chunk], NOW, policy)
        total.state, total.parking = step.state, step.parking
        total.applied += step.applied
        total.refused += step.refused
        total.alerts += step.alerts
    return total


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_any_interleaving_across_topics_gives_the_time_order_state(
    seed: int, data: st.DataObject
) -> None:
    events = history(seed)
    shuffled = data.draw(st.permutations(events))  # enrolment anywhere, corrections first...
    cuts = sorted(data.draw(st.lists(st.integers(0, len(events)), max_size=6)))
    chunks = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(events)], strict=True)]

    result = arrive(chunks, ParkingPolicy(limit=1000))

    assert result.parking == NO_PARKING and result.refused == []
    assert result.state == time_order(events)


def test_events_before_the_enrolment_wait_and_are_folded_with_it(ev: EventFactory) -> None:
    enrol = ev("e1", 0, "patient.enrolled", site="breast")
    lab = ev("l1", 10, "lab.resulted", order_id="o1", loinc="2039-6", value=2.0)
    visit = ev("v1", 20, "visit.completed")

    waiting = arrive([[lab], [visit]])
    assert waiting.state is None and [p.event for p in waiting.parking.events] == [lab, visit]
    assert waiting.refused == [] and waiting.alerts == []

    folded = admit(waiting.state, waiting.parking, [(enrol, None)], NOW, POLICY)
    assert folded.parking == NO_PARKING
    assert folded.state == time_order([enrol, lab, visit])
    assert [e for e, _ in folded.applied] == [enrol, lab, visit]


def test_a_correction_waits_for_its_target(ev: EventFactory) -> None:
    enrol = ev("e1", 0, "patient.enrolled", site="breast")
    lab = ev("l1", 10, "lab.resulted", order_id="o1", loinc="2039-6", value=9.0)
    fixed = lab.model_dump(mode="json") | {"event_id": "l1-fix", "value": 2.0}
    correction = ev("c1", 11, "event.corrected", target_event_id="l1", replacement=fixed)

    early = arrive([[enrol], [correction]])
    assert [p.event for p in early.parking.events] == [correction]
    assert early.state is not None and early.state.event_count == 1

    late = admit(early.state, early.parking, [(lab, None)], NOW, POLICY)
    assert late.parking == NO_PARKING
    assert late.state == time_order([enrol, lab, correction])


def test_a_repeat_of_a_parked_event_is_parked_once(ev: EventFactory) -> None:
    lab = ev("l1", 10, "lab.resulted", order_id="o1", loinc="2039-6", value=2.0)
    assert len(arrive([[lab], [lab, lab]]).parking.events) == 1


def test_an_event_parked_past_the_window_is_refused_and_the_care_team_told_once(
    ev: EventFactory,
) -> None:
    lab = ev("l1", 10, "lab.resulted", order_id="o1", loinc="2039-6", value=2.0)
    visit = ev("v1", 20, "visit.completed")
    parked = admit(None, NO_PARKING, [(lab, ("rw.labs.v1", 3, 17))], T0, POLICY)
    parked = admit(None, parked.parking, [(visit, "v")], T0 + timedelta(days=30), POLICY)

    too_early = expire(None, parked.parking, T0 + timedelta(days=89), POLICY)
    assert too_early.refused == [] and too_early.parking == parked.parking

    first = expire(None, parked.parking, T0 + timedelta(days=90), POLICY)
    ((event, origin, why),) = first.refused
    assert (event, origin) == (lab, ("rw.labs.v1", 3, 17))
    assert isinstance(why, ParkingRefused) and "no enrolment arrived within 90 days" in str(why)
    assert [a.kind for a in first.alerts] == [AlertKind.UNMATCHED_EVENTS]
    assert [p.event for p in first.parking.events] == [visit] and first.parking.told

    second = expire(None, first.parking, T0 + timedelta(days=120), POLICY)
    assert [e for e, _, _ in second.refused] == [visit]
    assert second.alerts == []  # told once


def test_parking_beyond_the_limit_refuses_the_newest(ev: EventFactory) -> None:
    labs = [
        ev(f"l{n}", n, "lab.resulted", order_id=f"o{n}", loinc="2039-6", value=1.0)
        for n in range(7)
    ]
    result = arrive([[lab] for lab in labs])
    assert len(result.parking.events) == POLICY.limit
    assert all("parking full" in str(why) for _, _, why in result.refused)
    assert len(result.refused) == 2 and len(result.alerts) == 1


def test_a_self_harm_answer_raises_its_alert_at_once_enrolled_or_not(ev: EventFactory) -> None:
    answer = ev("a1", 10, "checkin.answered", score=9, self_harm=True)
    parked = arrive([[answer]])

    (alert,) = parked.alerts
    assert alert.kind is AlertKind.SELF_HARM and alert.raised_at == answer.occurred_at
    assert [p.event for p in parked.parking.events] == [answer]  # and folded once enrolled


def test_the_parking_wakes_the_patient_when_its_oldest_event_expires(ev: EventFactory) -> None:
    lab = ev("l1", 10, "lab.resulted", order_id="o1", loinc="2039-6", value=2.0)
    parking = admit(None, NO_PARKING, [(lab, None)], T0, POLICY).parking
    assert wake_at(None, parking, POLICY) == T0 + timedelta(days=90)
    assert wake_at(T0 + timedelta(days=5), parking, POLICY) == T0 + timedelta(days=5)
    assert wake_at(T0, Parking(), POLICY) == T0


def test_a_parking_survives_serialisation(ev: EventFactory) -> None:
    lab = ev("l1", 10, "lab.resulted", order_id="o1", loinc="2039-6", value=2.0)
    parking = admit(None, NO_PARKING, [(lab, ("rw.labs.v1", 1, 5))], T0, POLICY).parking
    assert load_parking(dump_parking(parking)) == parking
    assert load_parking(dump_parking(parking._replace(told=True))).told


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_foldable_is_what_admit_folds_from_any_order(seed: int, data: st.DataObject) -> None:
    events = history(seed)
    dropped = data.draw(st.sets(st.sampled_from([e.event_id for e in events])))
    arrived = data.draw(st.permutations([e for e in events if e.event_id not in dropped]))

    kept, waiting = foldable(arrived)
    result = arrive([arrived], ParkingPolicy(limit=1000))

    assert {e.event_id for e in waiting} == {p.event.event_id for p in result.parking.events}
    if kept:
        assert result.state == time_order(kept)
    else:
        assert result.state is None
