"""IMWG 2016: VGPR 90%, PR 50% from baseline; PD +25% and +0.5 g/dL from nadir; two in a row."""

from __future__ import annotations

import pytest

from models.criteria import ImwgAssessment, Response


def mp(g_dl: float, **kwargs) -> ImwgAssessment:
    fields = {"serum_immunofixation": "positive", "urine_immunofixation": "positive"}
    return ImwgAssessment(serum_m_protein_g_dl=g_dl, **(fields | kwargs))


def complete(**kwargs) -> ImwgAssessment:
    fields = {
        "serum_immunofixation": "negative",
        "urine_immunofixation": "negative",
        "marrow_plasma_cells_pct": 4.9,
        "serum_m_protein_g_dl": 0.0,
    }
    return ImwgAssessment(**(fields | kwargs))


def test_first_assessment_is_the_baseline(series):
    [first] = series(mp(3.0))
    assert (first.category, first.needs_confirmation, first.metric) == ("baseline", False, 3.0)


@pytest.mark.parametrize(
    ("g_dl", "category"),
    [
        (1.01, "PR"),
        (1.0, "VGPR"),
        (5.01, "MR"),
        (5.0, "PR"),
        (7.5, "MR"),
        (7.51, "SD"),
    ],
)
def test_thresholds_from_baseline(series, g_dl, category):
    # Kumar 2016 (IMWG) table: baseline 10 g/dL: 1.01 is 89.9% down, 1.0 90% (VGPR), 5.01
    # 49.9%, 5.0 50% (PR), 7.5 25% (MR, minimal response), 7.51 24.9% (SD)
    _, evaluation = series(mp(10.0), mp(g_dl))
    assert evaluation.category == category


@pytest.mark.parametrize(
    ("nadir", "now", "category"),
    [(1.6, 2.0, "SD"), (2.0, 2.5, "PD"), (2.0, 2.49, "SD")],  # +25%/0.4, +25%/0.5, +24.5%
)
def test_progression_needs_25_percent_and_half_a_gram(series, nadir, now, category):
    *_, evaluation = series(mp(2.5), mp(nadir), mp(now))
    assert evaluation.category == category


def test_progression_is_measured_from_the_nadir(series):
    # 3.0 g/dL is 70% below baseline but +50% and +1.0 g/dL above the 2.0 nadir
    *_, evaluation = series(mp(10.0), mp(2.0), mp(3.0))
    assert (evaluation.category, evaluation.response) == ("PD", Response.PROGRESSION)


@pytest.mark.parametrize(
    ("fields", "category"),
    [({}, "CR"), ({"marrow_plasma_cells_pct": 5.0}, "VGPR"), ({"plasmacytomas": True}, "VGPR")],
)
def test_complete_response_needs_negative_immunofixation_and_marrow_under_5(
    series, fields, category
):
    _, evaluation = series(mp(3.0), complete(**fields))
    assert evaluation.category == category


def test_no_marrow_means_no_complete_response(series):
    _, evaluation = series(mp(3.0), complete(marrow_plasma_cells_pct=None))
    assert evaluation.category == "VGPR"


def test_stringent_complete_response_needs_a_normal_flc_ratio(series):
    _, evaluation = series(mp(3.0), complete(flc_ratio_normal=True))
    assert (evaluation.category, evaluation.response) == ("sCR", Response.COMPLETE)


def test_every_category_needs_a_second_consecutive_assessment(series):
    evaluations = series(mp(10.0), mp(4.0), mp(4.0), mp(0.9), mp(3.0))
    assert [e.category for e in evaluations] == ["baseline", "PR", "PR", "VGPR", "PD"]
    assert all(e.needs_confirmation for e in evaluations[1:])
    assert "needs a second" in evaluations[1].detail
    assert "confirms the previous PR" in evaluations[2].detail
    assert "needs a second" in evaluations[3].detail


@pytest.mark.parametrize(
    ("nadir", "now", "category"),
    [
        # Kumar 2016 (IMWG) PD: or >= 1 g/dL when the lowest M component was >= 5 g/dL
        (6.0, 7.1, "PD"),  # case c08: +1.1 g/dL (18%) above a 6.0 nadir
        (6.0, 7.0, "PD"),  # exactly +1 g/dL
        (6.0, 6.99, "MR"),  # +0.99 g/dL, still 30% below baseline
        (5.0, 6.0, "PD"),  # nadir exactly 5 g/dL
        (4.9, 5.8, "MR"),  # nadir below 5: +0.9 g/dL is 18%, not PD
    ],
)
def test_high_nadir_progression_is_one_gram(series, nadir, now, category):
    *_, evaluation = series(mp(10.0), mp(nadir), mp(now))
    assert evaluation.category == category


def test_case_c08_minimal_response_then_progression(series):
    evaluations = series(mp(8.0), mp(6.0), mp(6.0), mp(7.1), mp(7.2))
    assert [e.category for e in evaluations] == ["baseline", "MR", "MR", "PD", "PD"]
    assert evaluations[1].response is Response.STABLE  # MR is not a partial remission


@pytest.mark.parametrize(
    ("after", "category"),
    [
        # Kumar 2016 (IMWG), relapse from CR: immunofixation positive again, marrow plasma
        # cells >= 5%, or a plasmacytoma, even below the PD thresholds
        ({"serum_immunofixation": "positive", "serum_m_protein_g_dl": 0.2}, "relapse_from_CR"),
        ({"urine_immunofixation": "positive"}, "relapse_from_CR"),
        ({"marrow_plasma_cells_pct": 5.0}, "relapse_from_CR"),
        ({"marrow_plasma_cells_pct": 4.9}, "CR"),
        ({"plasmacytomas": True}, "relapse_from_CR"),
        ({"serum_immunofixation": "positive", "serum_m_protein_g_dl": 0.6}, "PD"),  # case c09
    ],
)
def test_relapse_from_cr(series, after, category):
    *_, evaluation = series(mp(3.0), complete(), complete(), complete(**after))
    assert evaluation.category == category
    assert (evaluation.response is Response.PROGRESSION) is (category != "CR")


def test_without_a_cr_positive_immunofixation_is_no_relapse(series):
    *_, evaluation = series(mp(3.0), mp(0.2))
    assert evaluation.category == "VGPR"
