"""Corrections as integrators send them (HL7 v2 Table 0085 "C" replaces a final result): the
corrected value replaces the old one and the fact stays done, whatever ids the mapper chose."""

from __future__ import annotations

from typing import Any

import pytest

from models.events import Event
from models.parking import NO_PARKING, ParkingPolicy, admit
from models.state import PatientState, evolve, replay
from tests.unit.core.conftest import T0, make_event

CEA = "2039-6"
OBSERVATION = "hl7:LAB1:F900:2039-6:1"  # OBR-3 + OBX-3 + OBX-4, as a mapper derives it


def course() -> list[Event]:
    return [
        make_event("enrol", 0, "patient.enrolled", site="colorectal", stage="III"),
        make_event("tx-s", 7, "treatment.started", treatment_id="T1", modality="surgery"),
        make_event("tx-e", 7.2, "treatment.completed", treatment_id="T1", modality="surgery"),
    ]


def draw(event_id: str = OBSERVATION, value: float = 2.1, status: str = "final") -> Event:
    return make_event(event_id, 99, "lab.resulted", order_id="F900", loinc=CEA, value=value,
                      status=status)  # fmt: skip


def corrected(correction_id: str, target: str, replacement_id: str, value: float) -> Event:
    replacement: dict[str, Any] = draw(replacement_id, value, "corrected").model_dump(mode="json")
    return make_event(correction_id, 100, "event.corrected", target_event_id=target,
                      replacement=replacement)  # fmt: skip


def fold(events: list[Event]) -> PatientState:
    state = None
    for event in events:
        state = evolve(state, event)
    assert state is not None
    return state


def lab_values(state: PatientState) -> list[float]:
    """The CEA values the view counts (records not voided by a correction or retraction)."""
    import struct

    retracted = state.view.retracted
    return [
        struct.unpack("<d", struct.pack("<q", r.aux))[0]
        for r in state.journal
        if state.journal.names[r.ref] == CEA and r.digest not in retracted
    ]


@pytest.mark.parametrize(
    ("form", "replacement_id"),
    [
        ("three ids (docs/wire-format.md)", f"{OBSERVATION}@MSG77"),
        ("replacement keeps the observation's id", OBSERVATION),
        ("replacement re-uses the correction's id", f"{OBSERVATION}:C:MSG77"),
    ],
)
def test_a_correction_replaces_the_value_and_the_draw_stays_done(
    form: str, replacement_id: str
) -> None:
    fix = corrected(f"{OBSERVATION}:C:MSG77", OBSERVATION, replacement_id, 1.2)
    state = fold([*course(), draw(), fix])

    assert lab_values(state) == [1.2], form
    assert state.view.done_at(CEA) != 0, form
    assert replay([fix, *course(), draw()])["P1"] == state  # any order, offline too


def test_a_correction_of_a_correction_keeps_only_the_last_value() -> None:
    first = corrected("c1", OBSERVATION, OBSERVATION, 1.2)  # the mapper keeps the id...
    second = corrected("c2", OBSERVATION, OBSERVATION, 1.4)  # ...and corrects it again
    second = second.model_copy(update={"occurred_at": second.occurred_at.replace(hour=12)})
    state = fold([*course(), draw(), first, second])

    assert lab_values(state) == [1.4]
    assert fold([*course(), second, draw(), first]) == state


def test_the_documented_correction_of_a_correction_targets_the_replacement() -> None:
    first = corrected("c1", OBSERVATION, "r1", 1.2)
    second = corrected("c2", "r1", "r2", 1.4)
    state = fold([*course(), draw(), first, second])
    assert lab_values(state) == [1.4]
    assert state.view.done_at(CEA) != 0


def test_a_correction_moving_a_fact_to_another_patient_is_refused_naming_the_rule() -> None:
    fix = corrected("c1", OBSERVATION, "r1", 1.2)
    moved = fix.replacement.model_copy(update={"patient_id": "P2"})
    wrong = fix.model_copy(update={"replacement": moved})

    result = admit(fold([*course(), draw()]), NO_PARKING, [(wrong, None)], T0, ParkingPolicy())
    ((_, _, why),) = result.refused
    assert "another patient" in str(why) and result.parking == NO_PARKING  # never parked


def test_a_correction_of_itself_is_refused_naming_the_rule() -> None:
    selfish = corrected("c1", "c1", "r1", 1.2)
    result = admit(fold(course()), NO_PARKING, [(selfish, None)], T0, ParkingPolicy())
    ((_, _, why),) = result.refused
    assert "targets itself" in str(why)


def facts(state: PatientState) -> object:
    """The derived view without its set of voided digests (which records a retraction and a
    correction void, their own included, is bookkeeping, not a fact)."""
    return state.view._replace(retracted=frozenset())


def retracted(retraction_id: str, target: str, days: float = 101) -> Event:
    return make_event(retraction_id, days, "event.retracted", target_event_id=target,
                      reason="entered in error")  # fmt: skip


@pytest.mark.parametrize(
    "replacement_id", [f"{OBSERVATION}@MSG77", OBSERVATION, f"{OBSERVATION}:C:MSG77"]
)
def test_retracting_a_correction_restores_the_original_observation(replacement_id: str) -> None:
    fix = corrected(f"{OBSERVATION}:C:MSG77", OBSERVATION, replacement_id, 1.2)
    undo = retracted("undo", fix.event_id)
    original = fold([*course(), draw()])
    state = fold([*course(), draw(), fix, undo])

    assert lab_values(state) == [2.1]
    assert facts(state) == facts(original)  # as if the correction had never come
    assert replay([undo, fix, draw(), *course()])["P1"] == state  # any order, offline too
    assert fold([*course(), undo, draw(), fix]) == state


def test_retracting_the_retraction_of_a_correction_brings_the_correction_back() -> None:
    fix = corrected("c1", OBSERVATION, "r1", 1.2)
    undo = retracted("undo", "c1")
    redo = retracted("redo", "undo", days=102)
    state = fold([*course(), draw(), fix, undo, redo])
    assert lab_values(state) == [1.2]
    assert facts(state) == facts(fold([*course(), draw(), fix]))


def test_retracting_the_last_of_two_corrections_restores_the_first() -> None:
    first = corrected("c1", OBSERVATION, OBSERVATION, 1.2)
    second = corrected("c2", OBSERVATION, OBSERVATION, 1.4)
    second = second.model_copy(update={"occurred_at": second.occurred_at.replace(hour=12)})
    state = fold([*course(), draw(), first, second, retracted("undo", "c2")])
    assert lab_values(state) == [1.2]


def scan_replacement(replacement_id: str) -> dict[str, Any]:
    scan = make_event(replacement_id, 99, "scan.completed", order_id="S1", item="ct_cap")
    return scan.model_dump(mode="json")


def test_a_correction_whose_replacement_is_another_kind_of_event_is_refused_naming_the_rule() -> (
    None
):
    wrong = make_event("c1", 100, "event.corrected", target_event_id=OBSERVATION,
                       replacement=scan_replacement("r1"))  # fmt: skip
    before = fold([*course(), draw()])

    with pytest.raises(ValueError, match=r"replacement is a scan\.completed, its target a lab"):
        evolve(before, wrong)
    result = admit(before, NO_PARKING, [(wrong, None)], T0, ParkingPolicy())
    ((_, _, why),) = result.refused
    assert "same type as its target" in str(why)
    assert result.state == before and lab_values(before) == [2.1]
    # Offline, in any order: the replay refuses it too, and the rebuild leaves it out.
    with pytest.raises(ValueError, match="same type as its target"):
        replay([wrong, *course(), draw()])


def test_a_wrong_kind_correction_folded_before_its_target_voids_nothing() -> None:
    """Parking never folds a correction before its target; should one be folded anyway (an
    offline fold in time order), it still neither voids the target nor adds its replacement."""
    wrong = make_event("c1", 98, "event.corrected", target_event_id=OBSERVATION,
                       replacement=scan_replacement("r1"))  # fmt: skip
    state = fold([*course(), wrong, draw()])
    assert lab_values(state) == [2.1]
    assert facts(state) == facts(fold([*course(), draw()]))


def test_correcting_a_correction_checks_the_type_of_the_replacement_it_corrects() -> None:
    first = corrected("c1", OBSERVATION, "r1", 1.2)
    by_event = corrected("c2", "c1", "r2", 1.4)  # targets the correction itself: a lab again
    state = fold([*course(), draw(), first, by_event])
    assert lab_values(state) == [1.4]
    wrong = make_event("c3", 100, "event.corrected", target_event_id="c1",
                       replacement=scan_replacement("r3"))  # fmt: skip
    with pytest.raises(ValueError, match="same type as its target"):
        evolve(fold([*course(), draw(), first]), wrong)


def test_the_rebuild_leaves_a_wrong_kind_correction_out_as_the_agent_does() -> None:
    from streams.rebuild import fold as rebuild_fold

    wrong = make_event("c1", 100, "event.corrected", target_event_id=OBSERVATION,
                       replacement=scan_replacement("r1"))  # fmt: skip
    undo = retracted("undo", "c2")
    fix = corrected("c2", OBSERVATION, "r2", 1.2)
    live = admit(None, NO_PARKING, [(e, None) for e in [*course(), draw(), wrong, fix, undo]],
                 T0, ParkingPolicy())  # fmt: skip
    states, skipped = rebuild_fold([undo, wrong, fix, draw(), *course()])

    assert [event.event_id for event, _, _ in live.refused] == ["c1"]
    assert skipped == 1 and live.state is not None
    assert states["P1"] == live.state and lab_values(live.state) == [2.1]
