"""`rebuild` compares states as facts and says per patient what differs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from models.events import Event
from models.state import PatientState, dump_state, evolve, replay
from streams.codecs import decode_event
from streams.differences import ABSENT, differences
from streams.rebuild import compare, fold, render_report

EXAMPLES = Path(__file__).parents[3] / "examples" / "breast-er-positive.jsonl"


def example_events() -> list[Event]:
    return [decode_event(line.encode()) for line in EXAMPLES.read_text().splitlines() if line]


def arrived_backwards(events: list[Event]) -> dict[str, PatientState]:
    """Each patient's events folded one by one, newest first after the enrolment: the same
    facts as `replay`, with the journal's names and payloads interned in another order."""
    states: dict[str, PatientState] = {}
    enrolments = [e for e in events if e.type == "patient.enrolled"]
    for event in enrolments + [e for e in reversed(events) if e not in enrolments]:
        states[event.patient_id] = evolve(states.get(event.patient_id), event)
    return states


def test_same_facts_in_another_arrival_order_are_no_difference() -> None:
    events = example_events()
    rebuilt, live = replay(events), arrived_backwards(events)
    # the encodings differ, which the old byte comparison called "different"
    assert any(dump_state(rebuilt[p]) != dump_state(live[p]) for p in rebuilt)
    report = compare(rebuilt, live)
    assert report.ok, report
    assert render_report(report).endswith("same: every live state equals its rebuild")


def test_a_lost_fact_is_named_with_both_values() -> None:
    events = example_events()
    lab = next(e for e in events if e.type == "lab.resulted")
    rebuilt = replay(events)
    live = replay([e for e in events if e is not lab])
    report = compare(rebuilt, live)
    pid = lab.patient_id
    assert (report.ok, report.different, report.missing, report.extra) == (False, [pid], [], [])
    found = report.differences[pid]
    facts = [d for d in found if d.path == "facts"]
    assert len(facts) == 1 and facts[0].live == ABSENT
    assert facts[0].rebuilt.startswith(f"lab at {lab.occurred_at.isoformat()}")
    # the view fields derived from that lab differ too, each under its own path
    assert [d for d in found if d.path.startswith("view.")]
    text = render_report(report)
    assert f"{pid} differs:" in text and "  facts: rebuilt lab at" in text


def test_a_derived_field_is_shown_by_its_path() -> None:
    events = example_events()
    state = replay(events)[events[0].patient_id]
    changed = state._replace(view=state.view._replace(lifecycle="deceased", lifecycle_at=7))
    assert differences(state, changed) == [
        ("view.lifecycle", "'active'", "'deceased'"),
        ("view.lifecycle_at", repr(state.view.lifecycle_at), "7"),
    ]


def test_emitted_reminders_do_not_count_missing_and_extra_patients_do() -> None:
    events = example_events()
    rebuilt = replay(events)
    pid = events[0].patient_id
    sent = rebuilt[pid]._replace(emitted=(("some-reminder", "visit", 1, 2),))
    ghost = sent._replace(patient_id="ghost")
    report = compare({**rebuilt, "lost": rebuilt[pid]}, {pid: sent, "ghost": ghost})
    assert (report.different, report.missing, report.extra) == ([], ["lost"], ["ghost"])
    assert "missing from the live state (1): lost" in render_report(report)


def test_fold_leaves_out_only_the_events_the_core_refuses() -> None:
    events = example_events()
    far = datetime(9999, 6, 1, tzinfo=UTC)  # outside the journal's range of instants
    bad = events[3].model_copy(update={"event_id": "far-future", "occurred_at": far})
    states, skipped = fold([*events, bad])
    assert skipped == 1
    assert states == replay(events)
