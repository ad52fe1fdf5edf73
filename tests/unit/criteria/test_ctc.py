"""CTC in HER2+ metastatic breast cancer: remission needs 0-1 CTC and non-positive markers."""

from __future__ import annotations

import pytest

from models.criteria import CtcAssessment, Response


@pytest.mark.parametrize(
    ("count", "phenotype", "category", "response"),
    [
        (0, "negative", "CTC-remission", Response.COMPLETE),
        (1, "dim", "CTC-remission", Response.COMPLETE),
        (1, "positive", "stemness-active", Response.STABLE),
        (2, "dim", "CTC-detected", Response.STABLE),
        (4, "negative", "CTC-detected", Response.STABLE),
    ],
)
def test_count_and_phenotype(series, count, phenotype, category, response):
    [evaluation] = series(CtcAssessment(count=count, phenotype=phenotype))
    assert (evaluation.category, evaluation.response) == (category, response)
    assert evaluation.metric == count


def test_remission_needs_confirmation(series):
    [evaluation] = series(CtcAssessment(count=1, phenotype="dim"))
    assert evaluation.needs_confirmation is True


@pytest.mark.parametrize(("count", "category"), [(4, "CTC-detected"), (5, "CTC-rise")])
def test_a_rise_to_5_is_progression(series, count, category):
    _, evaluation = series(
        CtcAssessment(count=1, phenotype="dim"), CtcAssessment(count=count, phenotype="dim")
    )
    assert evaluation.category == category


def test_a_first_or_persistent_high_count_is_not_a_rise(series):
    evaluations = series(
        CtcAssessment(count=8, phenotype="positive"), CtcAssessment(count=9, phenotype="positive")
    )
    assert [e.category for e in evaluations] == ["CTC-high", "CTC-high"]
    assert all(e.response is Response.STABLE for e in evaluations)


@pytest.mark.parametrize(
    ("count", "phenotype", "ends"),
    [
        # seed 001: remission needs CTC 0-1 AND markers negative or dim; either failing ends it
        (1, "dim", False),
        (0, "negative", False),
        (1, "positive", True),  # case c17: stemness markers positive again
        (0, "positive", True),
        (2, "negative", True),
    ],
)
def test_what_ends_a_ctc_remission(series, count, phenotype, ends):
    *_, evaluation = series(
        CtcAssessment(count=0, phenotype="negative"),
        CtcAssessment(count=count, phenotype=phenotype),
    )
    assert evaluation.ends_remission is ends
    assert (evaluation.response is Response.COMPLETE) is (not ends)
