"""iRECIST: a first progression is iUPD (not progression); iCPD needs growth 4-8 weeks on."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from models.criteria import RecistAssessment, Response, TargetLesion

START = date(2025, 3, 3)


def scan(mm: float, day: int, new_lesions: bool = False) -> RecistAssessment:
    target = TargetLesion(lesion_id="a", organ="lung", is_node=False, diameter_mm=mm)
    return RecistAssessment(
        targets=(target,),
        new_lesions=new_lesions,
        immune=True,
        assessed_on=START + timedelta(days=day),
    )


def test_first_progression_is_unconfirmed_and_not_progression(series):
    _, evaluation = series(scan(50, 0), scan(60, 42))
    assert evaluation.category == "iUPD"
    assert evaluation.response is Response.STABLE
    assert evaluation.needs_confirmation is True


@pytest.mark.parametrize(("mm", "category"), [(65.0, "iCPD"), (64.9, "iUPD")])
def test_progression_is_confirmed_by_5_mm_further_growth(series, mm, category):
    *_, evaluation = series(scan(50, 0), scan(60, 42), scan(mm, 42 + 35))
    assert evaluation.category == category


def test_confirmed_progression_is_progression_without_confirmation(series):
    *_, evaluation = series(scan(50, 0), scan(60, 42), scan(66, 42 + 28))
    assert (evaluation.response, evaluation.needs_confirmation) == (Response.PROGRESSION, False)


def test_new_lesions_in_the_window_confirm(series):
    *_, evaluation = series(scan(50, 0), scan(60, 42), scan(60, 42 + 56, new_lesions=True))
    assert evaluation.category == "iCPD"


@pytest.mark.parametrize("days_on", [27, 57])
def test_growth_outside_4_to_8_weeks_does_not_confirm(series, days_on):
    *_, evaluation = series(scan(50, 0), scan(60, 42), scan(70, 42 + days_on))
    assert evaluation.category == "iUPD"


def test_early_assessment_keeps_the_original_iupd_pending(series):
    # day 20 is too early; day 35 is in the window and 5 mm above the first iUPD's 60 mm
    *_, early, confirming = series(scan(50, 0), scan(60, 42), scan(63, 62), scan(65, 77))
    assert early.category == "iUPD"
    assert confirming.category == "iCPD"


def test_shrinkage_after_iupd_resets_it(series):
    evaluations = series(scan(50, 0), scan(60, 42), scan(30, 77), scan(36, 120))
    # 30 mm is 40% under baseline (iPR); 36 mm is +20% and +6 mm from the 30 mm nadir: a new iUPD
    assert [e.category for e in evaluations] == ["baseline", "iUPD", "iPR", "iUPD"]


def test_immune_categories_carry_the_i_prefix(series):
    evaluations = series(scan(50, 0), scan(45, 42), scan(0, 84))
    assert [e.category for e in evaluations] == ["baseline", "iSD", "iCR"]
    assert evaluations[-1].response is Response.COMPLETE


def test_immune_assessment_needs_a_date():
    target = TargetLesion(lesion_id="a", organ="lung", is_node=False, diameter_mm=20)
    with pytest.raises(ValidationError, match="assessed_on"):
        RecistAssessment(targets=(target,), immune=True)


def new(*sizes: tuple[str, float], non_target: str = "absent") -> dict:
    targets = tuple(
        TargetLesion(lesion_id=i, organ=f"organ-{i}", is_node=False, diameter_mm=mm)
        for i, mm in sizes
    )
    return {"new_lesions": True, "new_lesion_targets": targets, "new_non_target": non_target}


def measured(mm: float, day: int, **kwargs) -> RecistAssessment:
    target = TargetLesion(lesion_id="a", organ="lung", is_node=False, diameter_mm=mm)
    return RecistAssessment(
        targets=(target,), immune=True, assessed_on=START + timedelta(days=day), **kwargs
    )


def test_case_c12_the_same_new_lesion_unchanged_stays_iupd(series):
    # Seymour 2017 (iRECIST) Table 2: new lesions confirm iUPD only if they grow or multiply
    *_, evaluation = series(scan(30, 0), scan(28, 56, True), scan(20, 91, True))
    assert evaluation.category == "iUPD"
    assert evaluation.response is Response.STABLE


@pytest.mark.parametrize(
    ("at_confirmation", "category"),
    [
        # Seymour 2017 (iRECIST) Table 2, new lesions at iUPD: N1 12 mm (target), N2 non-target
        (new(("N1", 12), non_target="present"), "iUPD"),  # unchanged
        (new(("N1", 16.9), non_target="present"), "iUPD"),  # +4.9 mm in the new-lesion sum
        (new(("N1", 17), non_target="present"), "iCPD"),  # +5 mm
        (new(("N1", 12), non_target="unequivocal_progression"), "iCPD"),  # new NT grew
        (new(("N1", 12), ("N3", 10), non_target="present"), "iCPD"),  # another new lesion
    ],
)
def test_new_lesions_confirm_by_growth_or_number(series, at_confirmation, category):
    *_, evaluation = series(
        measured(30, 0),
        measured(28, 56, **new(("N1", 12), non_target="present")),
        measured(25, 91, **at_confirmation),
    )
    assert evaluation.category == category


def test_new_lesions_without_measurements_cannot_confirm(series):
    *_, evaluation = series(
        measured(30, 0),
        measured(28, 56, **new(("N1", 12))),
        measured(25, 91, new_lesions=True),
    )
    assert evaluation.category == "iUPD"
    assert "without measurements" in evaluation.detail


def test_new_lesion_measurements_need_the_new_lesions_flag():
    target = TargetLesion(lesion_id="N1", organ="liver", is_node=False, diameter_mm=12)
    with pytest.raises(ValidationError, match="set new_lesions"):
        measured(30, 0, new_lesion_targets=(target,))
