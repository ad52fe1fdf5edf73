"""PSA: 0.2 ng/mL confirmed after prostatectomy; nadir + 2 ng/mL (Phoenix) after radiotherapy."""

from __future__ import annotations

import pytest

from models.criteria import PsaAssessment, Response


def rp(value: float) -> PsaAssessment:
    return PsaAssessment(value_ng_ml=value, setting="prostatectomy")


def rt(value: float) -> PsaAssessment:
    return PsaAssessment(value_ng_ml=value, setting="radiotherapy")


@pytest.mark.parametrize(
    ("value", "category", "response"),
    [(0.19, "undetectable", Response.COMPLETE), (0.2, "rising", Response.STABLE)],
)
def test_after_prostatectomy_0_2_is_the_boundary(series, value, category, response):
    [evaluation] = series(rp(value))
    assert (evaluation.category, evaluation.response) == (category, response)
    assert evaluation.needs_confirmation is True


def test_a_second_value_at_0_2_confirms_recurrence(series):
    evaluations = series(rp(0.05), rp(0.2), rp(0.25))
    assert [e.category for e in evaluations] == ["undetectable", "rising", "biochemical_recurrence"]
    assert evaluations[-1].response is Response.PROGRESSION
    assert evaluations[-1].needs_confirmation is False


def test_a_value_back_under_0_2_resets_the_pending_rise(series):
    evaluations = series(rp(0.2), rp(0.1), rp(0.2))
    assert [e.category for e in evaluations] == ["rising", "undetectable", "rising"]


@pytest.mark.parametrize(
    ("value", "category"), [(2.49, "no_biochemical_failure"), (2.5, "biochemical_failure")]
)
def test_after_radiotherapy_failure_is_nadir_plus_2(series, value, category):
    *_, evaluation = series(rt(4.0), rt(0.5), rt(1.0), rt(value))
    assert evaluation.category == category


def test_after_radiotherapy_no_value_is_complete(series):
    evaluations = series(rt(1.0), rt(0.0))
    assert all(e.response is Response.STABLE for e in evaluations)
