"""The fold: order-independence, idempotency, retractions, episodes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.events import Event, parse_event
from models.state import UnknownPatient, dump_state, evolve, load_state, replay
from remission_watch.cohort import patient_history
from tests.unit.core.conftest import EventFactory, make_event, recist


def fold(events: list[Event]):
    state = None
    for event in events:
        state = evolve(state, event)
    assert state is not None
    return state


def history(seed: int, size: int = 30) -> list[Event]:
    raw = patient_history("H1", seed, datetime(2022, 3, 1, 9, tzinfo=UTC), size)
    return [parse_event(r) for r in raw]


def enrolled_first(events: list[Event]) -> list[Event]:
    return sorted(events, key=lambda e: e.type != "patient.enrolled")


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_any_arrival_order_gives_the_time_order_state(seed: int, data: st.DataObject) -> None:
    events = history(seed)
    shuffled = enrolled_first(data.draw(st.permutations(events)))
    assert fold(shuffled) == fold(events)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_applying_an_event_twice_equals_once(seed: int, data: st.DataObject) -> None:
    events = history(seed)
    repeats = data.draw(st.lists(st.sampled_from(events), max_size=15))
    assert fold(events + repeats) == fold(events)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_a_retracted_event_leaves_no_trace(seed: int, data: st.DataObject) -> None:
    events = history(seed)
    victim = data.draw(st.sampled_from([e for e in events if e.type != "patient.enrolled"]))
    retraction = make_event(
        "R1", 2000, "event.retracted", patient="H1", target_event_id=victim.event_id
    )
    without = [e for e in events if e is not victim]
    assert fold([*events, retraction]).view == fold([*without, retraction]).view
    # ... whichever arrives first
    assert fold([events[0], retraction, *events[1:]]).view == fold([*events, retraction]).view


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_batch_replay_equals_event_by_event_fold(seed: int) -> None:
    events = history(seed, 50)
    assert replay(list(reversed(events)))["H1"] == fold(events)


def test_a_state_survives_serialisation(ev: EventFactory) -> None:
    state = fold(history(11, 50))
    again = load_state(dump_state(state))
    assert again == state
    assert again.view.episodes == state.view.episodes


def test_an_event_for_an_unknown_patient_is_refused(ev: EventFactory) -> None:
    with pytest.raises(UnknownPatient, match="no enrolment"):
        evolve(None, ev("x1", 0, "visit.completed"))
    with pytest.raises(UnknownPatient):
        replay([ev("x1", 0, "visit.completed")])


def _course(ev: EventFactory) -> list[Event]:
    return [
        ev("e1", 0, "patient.enrolled", site="colorectal", time_zone="America/Chicago"),
        ev("e2", 1, "response.assessed", assessment=recist(40, baseline=True)),
        ev("e3", 5, "treatment.started", treatment_id="t1", modality="chemotherapy"),
        ev("e4", 100, "treatment.completed", treatment_id="t1", modality="chemotherapy"),
        ev("e5", 110, "response.assessed", assessment=recist(0)),
    ]


def test_a_complete_response_is_confirmed_by_a_repeat_four_weeks_later(ev: EventFactory) -> None:
    # RECIST 1.1 §4.6, Table 3: an episode opens only once a repeat >= 4 weeks later shows it
    alone = fold(_course(ev))
    assert alone.view.episodes == ()  # one CR, however long ago: not confirmed
    early = fold([*_course(ev), ev("e6", 130, "response.assessed", assessment=recist(0))])
    assert early.view.episodes == ()  # a repeat 20 days later: too early
    later = fold([*_course(ev), ev("e6", 138, "response.assessed", assessment=recist(0))])
    first = later.view.episodes[0]  # a repeat 28 days later confirms, from the first CR
    assert (first.kind, first.started, first.confirmed) == (
        "complete",
        alone.view.pending[0].at,
        later.view.last_evaluation[3],
    )


def test_a_response_that_does_not_last_is_not_an_episode(ev: EventFactory) -> None:
    state = fold(
        [*_course(ev), ev("e6", 125, "response.assessed", assessment=recist(60, new=True))]
    )
    assert state.view.episodes == ()
    assert state.view.progression_at != 0


def test_recurrence_then_a_second_remission_is_episode_two(ev: EventFactory) -> None:
    events = [
        *_course(ev),
        ev("e6", 140, "response.assessed", assessment=recist(0)),
        ev("e7", 500, "response.assessed", assessment=recist(30, new=True)),
        ev(
            "e8",
            510,
            "treatment.started",
            treatment_id="t2",
            modality="chemotherapy",
            role="salvage",
        ),
        ev("e9", 600, "treatment.completed", treatment_id="t2", modality="chemotherapy"),
        ev("e10", 610, "status.declared", status="complete_remission"),
    ]
    state = fold(events)
    first, second = state.view.episodes
    assert (first.number, first.ended_by) == (1, "progression")
    assert second.number == 2 and second.ended == 0 and second.basis.startswith("declared")
    assert state.view.declared == ("complete_remission", second.started)


def test_a_correction_replaces_the_wrong_fact(ev: EventFactory) -> None:
    wrong = ev("lab1", 200, "lab.resulted", order_id="o1", loinc="2039-6", value=99.0)
    right = ev("lab1-c", 200, "lab.resulted", order_id="o1", loinc="2039-6", value=2.0)
    corrected = ev(
        "corr1",
        201,
        "event.corrected",
        target_event_id="lab1",
        replacement=right.model_dump(mode="json"),
    )
    with_fix = fold([*_course(ev), wrong, corrected])
    assert (
        with_fix.view
        == fold(
            [*_course(ev), right, ev("corr1", 201, "event.retracted", target_event_id="lab1")]
        ).view
    )
    assert with_fix.view.done_at("2039-6") != 0


def test_death_stops_everything_and_ends_the_episode(ev: EventFactory) -> None:
    state = fold(
        [
            *_course(ev),
            ev("e6", 140, "response.assessed", assessment=recist(0)),
            ev("d", 300, "patient.deceased"),
        ]
    )
    assert state.view.lifecycle == "deceased"
    assert state.view.episodes[-1].ended_by == "deceased"


def test_maintenance_therapy_does_not_pause_surveillance(ev: EventFactory) -> None:
    state = fold(
        [
            *_course(ev),
            ev(
                "m1",
                120,
                "treatment.started",
                treatment_id="m",
                modality="endocrine",
                role="maintenance",
            ),
        ]
    )
    assert state.view.open_treatments == frozenset()
    paused = fold(
        [
            *_course(ev),
            ev(
                "m1",
                120,
                "treatment.started",
                treatment_id="s",
                modality="chemotherapy",
                role="salvage",
            ),
        ]
    )
    assert paused.view.open_treatments != frozenset()


def test_replay_handles_corrections_like_evolve() -> None:
    from pathlib import Path

    lines = Path(__file__).resolve().parents[3] / "examples" / "colorectal-recurrence.jsonl"
    events = [parse_event(line) for line in lines.read_text().splitlines()]
    assert any(e.type == "event.corrected" for e in events)
    (state,) = replay(reversed(events)).values()
    assert state == fold(enrolled_first(events))
    assert state.view.done_at("2039-6") != 0
