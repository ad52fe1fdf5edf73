"""RECIST 1.1: boundaries of PR (baseline) and PD (nadir, 20% and 5 mm), CR and validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from models.criteria import CriteriaMemory, RecistAssessment, Response, TargetLesion, evaluate


def lesion(lesion_id: str, mm: float, organ: str = "", node: bool = False) -> TargetLesion:
    return TargetLesion(lesion_id=lesion_id, organ=organ or lesion_id, is_node=node, diameter_mm=mm)


def single(mm: float, **kwargs) -> RecistAssessment:
    return RecistAssessment(targets=(lesion("a", mm),), **kwargs)


def pair(a_mm: float, b_mm: float, **kwargs) -> RecistAssessment:
    return RecistAssessment(targets=(lesion("a", a_mm), lesion("b", b_mm)), **kwargs)


def test_first_assessment_is_the_baseline(series):
    [first] = series(pair(40, 30))
    assert (first.category, first.response) == ("baseline", Response.NOT_EVALUABLE)
    assert first.needs_confirmation is False
    assert first.metric == 70


@pytest.mark.parametrize(("follow_up", "category"), [(35.1, "SD"), (35.0, "PR")])
def test_partial_response_needs_30_percent_below_baseline(series, follow_up, category):
    # baseline 100 mm; 70.1 mm is 29.9% down, 70.0 mm exactly 30%
    _, evaluation = series(pair(50, 50), pair(follow_up, 35))
    assert evaluation.category == category


def test_partial_response_needs_confirmation(series):
    _, evaluation = series(pair(50, 50), pair(30, 30))
    assert (evaluation.response, evaluation.needs_confirmation) == (Response.PARTIAL, True)
    assert evaluation.depth == "PR"


@pytest.mark.parametrize(
    ("baseline_mm", "follow_up_mm", "category"),
    [(20, 24, "SD"), (25, 30, "PD"), (25, 29.9, "SD")],  # +20%/4 mm, +20%/5 mm, +19.6%/4.9 mm
)
def test_progression_needs_20_percent_and_5_mm(series, baseline_mm, follow_up_mm, category):
    _, evaluation = series(single(baseline_mm), single(follow_up_mm))
    assert evaluation.category == category


def test_progression_needs_confirmation_never(series):
    _, evaluation = series(single(25), single(30))
    assert (evaluation.response, evaluation.needs_confirmation) == (Response.PROGRESSION, False)


def test_progression_is_measured_from_the_nadir_not_the_baseline(series):
    # 61 mm is 39% below the 100 mm baseline but 22% and 11 mm above the 50 mm nadir
    evaluations = series(pair(50, 50), pair(25, 25), pair(31, 30))
    assert [e.category for e in evaluations] == ["baseline", "PR", "PD"]


def test_a_new_lesion_is_progression_even_while_shrinking(series):
    _, evaluation = series(pair(50, 50), pair(10, 10, new_lesions=True))
    assert (evaluation.category, evaluation.response) == ("PD", Response.PROGRESSION)


def test_unequivocal_non_target_progression_is_progression(series):
    _, evaluation = series(pair(50, 50), pair(50, 50, non_target="unequivocal_progression"))
    assert evaluation.category == "PD"


@pytest.mark.parametrize(("node_mm", "category"), [(9.9, "CR"), (10.0, "PR")])
def test_a_node_under_10_mm_short_axis_counts_as_gone(series, node_mm, category):
    baseline = RecistAssessment(targets=(lesion("n", 20, "neck", node=True), lesion("l", 15)))
    follow_up = RecistAssessment(targets=(lesion("n", node_mm, "neck", node=True), lesion("l", 0)))
    _, evaluation = series(baseline, follow_up)
    assert evaluation.category == category


def test_complete_response_is_imaging_depth_and_needs_confirmation(series):
    _, evaluation = series(single(20), single(0))
    assert (evaluation.response, evaluation.needs_confirmation) == (Response.COMPLETE, True)
    assert evaluation.depth == "CR by imaging"


def test_targets_gone_with_non_target_disease_present_is_partial(series):
    _, evaluation = series(single(20), single(0, non_target="present"))
    assert evaluation.category == "PR"


def test_a_follow_up_missing_a_target_is_not_evaluable(series):
    _, evaluation = series(pair(50, 50), single(10))
    assert evaluation.response is Response.NOT_EVALUABLE


def test_declared_baseline_resets_baseline_and_nadir(series):
    # after the re-baseline at 30 mm, 36 mm is +20% and +6 mm: progression from the new nadir
    evaluations = series(single(100), single(50), single(30, baseline=True), single(36))
    assert [e.category for e in evaluations] == ["baseline", "PR", "baseline", "PD"]


def test_more_than_five_targets_are_rejected():
    targets = tuple(lesion(f"l{i}", 20) for i in range(6))
    with pytest.raises(ValidationError, match="at most 5"):
        RecistAssessment(targets=targets)


def test_more_than_two_targets_per_organ_are_rejected():
    targets = tuple(
        lesion(f"l{i}", 20, organ) for i, organ in enumerate(["Liver", "liver", "LIVER"])
    )
    with pytest.raises(ValidationError, match="per organ"):
        RecistAssessment(targets=targets)


def test_two_targets_per_organ_and_five_in_all_are_accepted():
    organs = ["liver", "liver", "lung", "lung", "bone"]
    targets = tuple(lesion(f"l{i}", 20, organ) for i, organ in enumerate(organs))
    assert len(RecistAssessment(targets=targets).targets) == 5


def test_duplicate_lesion_ids_are_rejected():
    with pytest.raises(ValidationError, match="unique"):
        RecistAssessment(targets=(lesion("a", 20, "liver"), lesion("a", 20, "lung")))


@pytest.mark.parametrize(
    ("target", "accepted"),
    [
        (lesion("l", 9.9), False),
        (lesion("l", 10.0), True),
        (lesion("n", 14.9, node=True), False),
        (lesion("n", 15.0, node=True), True),
    ],
)
def test_declared_baseline_needs_measurable_targets(target, accepted):
    if accepted:
        assert RecistAssessment(targets=(target,), baseline=True).baseline
    else:
        with pytest.raises(ValidationError, match="below"):
            RecistAssessment(targets=(target,), baseline=True)


def test_an_unmeasurable_implicit_baseline_is_not_evaluable_and_not_remembered():
    evaluation, memory = evaluate(CriteriaMemory(), single(9))
    assert evaluation.response is Response.NOT_EVALUABLE
    assert memory == CriteriaMemory()


sizes = st.lists(st.floats(min_value=10, max_value=80, allow_nan=False), min_size=1, max_size=5)


@given(
    baseline=sizes,
    factors=st.lists(st.floats(min_value=0, max_value=2), min_size=5, max_size=5),
    order=st.permutations(range(5)),
)
def test_category_does_not_depend_on_lesion_order(baseline, factors, order):
    ids = [f"l{i}" for i in range(len(baseline))]
    before = [lesion(i, mm) for i, mm in zip(ids, baseline, strict=True)]
    after = [lesion(i, mm * f) for i, mm, f in zip(ids, baseline, factors, strict=False)]
    shuffled = [after[k] for k in order if k < len(after)]
    _, memory = evaluate(CriteriaMemory(), RecistAssessment(targets=tuple(before)))
    in_order, _ = evaluate(memory, RecistAssessment(targets=tuple(after)))
    reordered, _ = evaluate(memory, RecistAssessment(targets=tuple(shuffled)))
    assert (in_order.category, in_order.response) == (reordered.category, reordered.response)
    assert in_order.metric == pytest.approx(reordered.metric)


@given(st.lists(st.floats(min_value=0, max_value=100), min_size=1, max_size=8))
def test_nadir_is_the_smallest_sum_so_far(follow_ups):
    _, memory = evaluate(CriteriaMemory(), single(50))
    for mm in follow_ups:
        _, memory = evaluate(memory, single(mm))
    assert memory.get("nadir") == min([50.0, *follow_ups])
    assert memory.get("baseline") == 50.0


# Eisenhauer 2009 (RECIST 1.1), Table 3 footnote and the EORTC RECIST FAQ: after a CR, any
# disease seen again is progression, however small.
@pytest.mark.parametrize(
    ("after_cr", "category"),
    [
        (lesion("a", 4), "PD"),  # case c01: 4 mm after a confirmed CR
        (lesion("a", 1), "PD"),
        (lesion("a", 0), "CR"),
    ],
)
def test_reappearance_after_cr_is_progression(series, after_cr, category):
    evaluations = series(single(30), single(0), single(0), RecistAssessment(targets=(after_cr,)))
    assert evaluations[-1].category == category


@pytest.mark.parametrize(("short_axis", "category"), [(9.9, "CR"), (10.0, "PD")])
def test_a_node_back_to_10_mm_after_cr_is_progression(series, short_axis, category):
    def nodes(mm: float) -> RecistAssessment:
        return RecistAssessment(targets=(lesion("n", mm, "mediastinum", node=True),))

    evaluations = series(nodes(20), nodes(5), nodes(short_axis))
    assert evaluations[-1].category == category


def test_non_target_disease_back_after_cr_is_progression(series):
    *_, evaluation = series(single(30), single(0), single(0, non_target="present"))
    assert evaluation.category == "PD"


def test_without_a_cr_small_growth_is_not_progression(series):
    # nadir 10 mm -> 14 mm: +40% but only +4 mm, and no CR before: not PD
    *_, evaluation = series(single(30), single(10), single(14))
    assert evaluation.category == "PR"


def _targets(*specs: tuple[str, str, bool]) -> tuple[TargetLesion, ...]:
    return tuple(
        TargetLesion(lesion_id=i, organ=organ, is_node=node, diameter_mm=20)
        for i, organ, node in specs
    )


@pytest.mark.parametrize(
    ("targets", "valid"),
    [
        # EORTC RECIST 1.1 FAQ: lymph nodes, whatever the region, are one organ (max 2 targets)
        (
            (("N1", "mediastinum", True), ("N2", "axilla", True), ("N3", "retroperitoneum", True)),
            False,
        ),  # case f02
        ((("N1", "mediastinum", True), ("N2", "axilla", True)), True),
        # paired organs count as one organ
        ((("L1", "left lung", False), ("L2", "right lung", False), ("L3", "lung", False)), False),
        ((("L1", "left lung", False), ("L2", "right lung", False)), True),
        (
            (("K1", "Left Kidney", False), ("K2", "kidneys", False), ("K3", "right kidney", False)),
            False,
        ),
        (
            (
                ("A1", "adrenal", False),
                ("A2", "right adrenal gland", False),
                ("A3", "liver", False),
            ),
            True,
        ),
        # different organs: 2 each is fine up to 5 targets
        (
            (
                ("L1", "liver", False),
                ("L2", "liver", False),
                ("N1", "neck", True),
                ("N2", "pelvis", True),
                ("P1", "lung", False),
            ),
            True,
        ),
    ],
)
def test_target_selection_nodes_and_paired_organs_are_one_organ(targets, valid):
    if valid:
        RecistAssessment(baseline=True, targets=_targets(*targets))
    else:
        with pytest.raises(ValidationError, match="at most 2 per organ"):
            RecistAssessment(baseline=True, targets=_targets(*targets))
