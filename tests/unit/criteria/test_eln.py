"""ELN 2022 AML: CR, CRh, CRi and MLFS count boundaries; PR, progression and relapse."""

from __future__ import annotations

import pytest

from models.criteria import ElnAssessment, Response


def marrow(
    blasts: float = 2.0, anc: float = 1.5, platelets: float = 150.0, **kwargs
) -> ElnAssessment:
    fields = {"circulating_blasts": False, "extramedullary_disease": False}
    return ElnAssessment(
        marrow_blasts_pct=blasts, anc_10e9_l=anc, platelets_10e9_l=platelets, **(fields | kwargs)
    )


@pytest.mark.parametrize(
    ("anc", "platelets", "category"),
    [
        (1.0, 100, "CR"),
        (0.99, 100, "CRh"),
        (1.0, 99, "CRh"),
        (0.5, 50, "CRh"),
        (0.49, 50, "MLFS"),
        (0.5, 49, "MLFS"),
        (1.0, 49, "CRi"),
        (0.49, 100, "CRi"),
        (0.2, 20, "MLFS"),
    ],
)
def test_count_recovery_decides_the_complete_remission_kind(series, anc, platelets, category):
    [evaluation] = series(marrow(anc=anc, platelets=platelets))
    assert evaluation.category == category


@pytest.mark.parametrize("category", ["CR", "CRh", "CRi"])
def test_complete_kinds_map_to_complete_and_need_confirmation(series, category):
    counts = {"CR": (1.0, 100), "CRh": (0.6, 60), "CRi": (1.0, 20)}[category]
    [evaluation] = series(marrow(anc=counts[0], platelets=counts[1]))
    assert (evaluation.category, evaluation.response) == (category, Response.COMPLETE)
    assert evaluation.needs_confirmation is True


def test_mlfs_is_partial(series):
    [evaluation] = series(marrow(anc=0.1, platelets=10))
    assert (evaluation.category, evaluation.response) == ("MLFS", Response.PARTIAL)


@pytest.mark.parametrize(
    "changes",
    [{"blasts": 5.0}, {"circulating_blasts": True}, {"extramedullary_disease": True}],
)
def test_blasts_at_5_or_residual_disease_is_no_remission(series, changes):
    [evaluation] = series(marrow(**changes))
    assert evaluation.response not in (Response.COMPLETE, Response.PARTIAL)


@pytest.mark.parametrize(("blasts", "category"), [(20.0, "PR"), (20.1, "no_response")])
def test_partial_response_needs_blasts_halved_into_5_to_25(series, blasts, category):
    [evaluation] = series(marrow(blasts=blasts, baseline_blasts_pct=40.0))
    assert evaluation.category == category


def test_partial_response_needs_count_recovery(series):
    [evaluation] = series(marrow(blasts=10.0, anc=0.5, baseline_blasts_pct=40.0))
    assert evaluation.category == "no_response"


@pytest.mark.parametrize(
    ("baseline", "blasts", "category"),
    [
        (20.0, 35.1, "progressive_disease"),  # +75.5%, +15.1 points
        (20.0, 30.1, "no_response"),  # +50.5% but only +10.1 points from a baseline < 30%
        (40.0, 60.0, "no_response"),  # exactly +50%: ELN needs more than 50%
        (40.0, 61.0, "progressive_disease"),  # +52.5% from a baseline >= 30%
    ],
)
def test_progression_is_a_rise_of_more_than_half_over_baseline(series, baseline, blasts, category):
    [evaluation] = series(marrow(blasts=blasts, baseline_blasts_pct=baseline))
    assert evaluation.category == category


def test_blasts_returning_after_remission_are_a_relapse(series):
    evaluations = series(marrow(), marrow(blasts=6.0))
    assert [e.category for e in evaluations] == ["CR", "relapse"]
    assert evaluations[-1].response is Response.PROGRESSION


def test_without_prior_remission_residual_blasts_are_no_response(series):
    [evaluation] = series(marrow(blasts=6.0))
    assert (evaluation.category, evaluation.response) == ("no_response", Response.STABLE)


def test_case_c14_relapse_after_cr_whatever_came_between(series):
    # Döhner 2022 (ELN) Table 6: relapse is blasts >= 5% after CR/CRh/CRi; MLFS between does
    # not erase the remission
    evaluations = series(
        marrow(2, 1.8, 150, baseline_blasts_pct=60),
        marrow(2, 1.6, 140, baseline_blasts_pct=60),
        marrow(1, 0.3, 30, baseline_blasts_pct=60),
        marrow(12, 1.5, 120, baseline_blasts_pct=60),
    )
    assert [e.category for e in evaluations] == ["CR", "CR", "MLFS", "relapse"]
    assert evaluations[-1].response is Response.PROGRESSION


@pytest.mark.parametrize(("blasts", "category"), [(4.9, "CRi"), (5.0, "relapse")])
def test_relapse_threshold_after_cri_is_5_percent(series, blasts, category):
    evaluations = series(marrow(2, 0.4, 120), marrow(1, 0.2, 20), marrow(blasts, 0.4, 120))
    assert evaluations[-1].category == category
