"""Lugano 2014: Deauville PET categories and the CT sum of products of up to 6 nodes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from models.criteria import BidimensionalLesion, LuganoAssessment, Response


def node(lesion_id: str, longest: float, perpendicular: float) -> BidimensionalLesion:
    return BidimensionalLesion(
        lesion_id=lesion_id, longest_mm=longest, perpendicular_mm=perpendicular
    )


def ct(*nodes: BidimensionalLesion, **kwargs) -> LuganoAssessment:
    return LuganoAssessment(nodes=nodes, **kwargs)


@pytest.mark.parametrize(
    ("deauville", "category", "response"),
    [(3, "CMR", Response.COMPLETE), (4, "NMR", Response.STABLE)],
)
def test_deauville_3_is_complete_and_4_is_not(series, deauville, category, response):
    [evaluation] = series(LuganoAssessment(deauville=deauville, uptake_vs_baseline="unchanged"))
    assert (evaluation.category, evaluation.response) == (category, response)


@pytest.mark.parametrize(
    ("uptake", "category", "response"),
    [
        ("reduced", "PMR", Response.PARTIAL),
        ("unchanged", "NMR", Response.STABLE),
        ("increased", "PMD", Response.PROGRESSION),
    ],
)
def test_deauville_5_is_judged_by_uptake_against_baseline(series, uptake, category, response):
    [evaluation] = series(LuganoAssessment(deauville=5, uptake_vs_baseline=uptake))
    assert (evaluation.category, evaluation.response) == (category, response)


def test_fdg_avid_marrow_prevents_a_complete_metabolic_response(series):
    [evaluation] = series(LuganoAssessment(deauville=2, fdg_avid_marrow=True))
    assert evaluation.category == "PMR"


def test_new_fdg_avid_foci_are_progression_at_any_score(series):
    [evaluation] = series(LuganoAssessment(deauville=2, new_fdg_avid_foci=True))
    assert evaluation.category == "PMD"


def test_deauville_4_without_a_comparison_is_not_evaluable(series):
    [evaluation] = series(LuganoAssessment(deauville=4))
    assert evaluation.response is Response.NOT_EVALUABLE


def test_complete_metabolic_response_needs_confirmation(series):
    [evaluation] = series(LuganoAssessment(deauville=1))
    assert (evaluation.needs_confirmation, evaluation.depth) == (True, "CR by imaging")


@pytest.mark.parametrize(("perpendicular", "category"), [(0.04, "SD"), (0.0, "PR")])
def test_ct_partial_response_at_50_percent_of_the_sum_of_products(series, perpendicular, category):
    # baseline 800 mm²; follow-up 400.8 mm² is 49.9% down, 400 mm² exactly 50%
    baseline = ct(node("a", 20, 20), node("b", 20, 20))
    follow_up = ct(node("a", 20, 20), node("b", 20, perpendicular))
    _, evaluation = series(baseline, follow_up)
    assert evaluation.category == category
    assert evaluation.metric == pytest.approx(400 + 20 * perpendicular)


def test_first_ct_is_the_baseline(series):
    [evaluation] = series(ct(node("a", 30, 20)))
    assert (evaluation.category, evaluation.metric) == ("baseline", 600)


def test_ct_progression_is_50_percent_growth_of_one_abnormal_node_from_its_nadir(series):
    # node a: 600 -> 300 (nadir, 30x10) -> 600 mm² (+100%, SDi +10 mm) while the sum stays
    # below baseline (Cheson 2014, Table 3, PPD progression)
    evaluations = series(
        ct(node("a", 30, 20), node("b", 30, 30)),
        ct(node("a", 30, 10), node("b", 20, 20)),
        ct(node("a", 30, 20), node("b", 20, 20)),
    )
    assert [e.category for e in evaluations] == ["baseline", "PR", "PD"]


@pytest.mark.parametrize(
    ("nadir", "now", "category"),
    [
        # Cheson 2014 (Lugano), Table 3, CT PPD progression: LDi > 15 mm AND product +50% from
        # nadir AND LDi or SDi +5 mm from nadir for a node <= 20 mm there, +10 mm if > 20 mm.
        ((20, 12), (24, 15), "SD"),  # case c07: +50% product but only +4/+3 mm: not PD
        ((20, 12), (25, 12), "SD"),  # +5 mm LDi but product only +25%
        ((20, 12), (25, 15), "PD"),  # +5 mm LDi on a node of exactly 20 mm, product +56%
        ((20, 12), (24.9, 15), "SD"),  # +4.9 mm LDi, +3 mm SDi
        ((20, 10), (22, 15), "PD"),  # +5 mm SDi, product +65%
        ((21, 12), (26, 15), "SD"),  # > 20 mm at nadir needs +10 mm: +5 mm is not enough
        ((21, 12), (31, 13), "PD"),  # +10 mm LDi, product +60%
        ((10, 8), (15, 10), "SD"),  # +5 mm, product +87%, but LDi 15 is not > 15 mm
        ((10, 8), (16, 10), "PD"),  # LDi 16 > 15, +6 mm, product +100%
    ],
)
def test_ct_node_progression_table(series, nadir, now, category):
    evaluations = series(
        ct(node("big", 60, 50), node("n", *nadir)),
        ct(node("big", 60, 50), node("n", *now)),
    )
    assert evaluations[-1].category == category


def test_case_c07_small_node_growth_without_the_diameter_rule_is_not_progression(series):
    # c07: N2 20x12 mm at nadir -> 24x15 mm; Cheson 2014 needs +5 mm in LDi or SDi
    evaluations = series(
        ct(node("N1", 40, 30), node("N2", 20, 12)),
        ct(node("N1", 18, 12), node("N2", 20, 12)),
        ct(node("N1", 18, 12), node("N2", 24, 15)),
    )
    assert [e.response for e in evaluations[1:]] == [Response.PARTIAL, Response.PARTIAL]


def test_growth_of_a_normal_sized_node_is_not_progression(series):
    evaluations = series(ct(node("a", 30, 20)), ct(node("a", 15, 5)), ct(node("a", 15, 10)))
    assert evaluations[-1].category == "CR"


def test_ct_progression_overrides_a_metabolic_response(series):
    evaluations = series(
        ct(node("a", 30, 20)),
        ct(node("a", 30, 20), new_ct_lesions=True, deauville=3),
    )
    assert evaluations[-1].response is Response.PROGRESSION


def test_more_than_six_nodes_are_rejected():
    with pytest.raises(ValidationError, match="at most 6"):
        ct(*(node(f"n{i}", 20, 20) for i in range(7)))


def test_an_assessment_needs_pet_or_ct():
    with pytest.raises(ValidationError, match="Deauville"):
        LuganoAssessment()


@pytest.mark.parametrize("score", [0, 6])
def test_deauville_outside_1_to_5_is_rejected(score):
    with pytest.raises(ValidationError):
        LuganoAssessment(deauville=score)
