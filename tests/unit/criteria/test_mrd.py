"""MRD: method and sensitivity are required; negative is COMPLETE, positive is not progression."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from models.criteria import Assessment, MrdAssessment, Response

ASSESSMENT = TypeAdapter(Assessment)


def test_negative_result_is_complete_with_method_and_sensitivity_as_depth(series):
    [evaluation] = series(MrdAssessment(method="ngs", sensitivity=1e-6, detected=False))
    assert (evaluation.category, evaluation.response) == ("MRD-negative", Response.COMPLETE)
    assert evaluation.depth == "MRD-negative (ngs, 1e-06)"
    assert evaluation.needs_confirmation is True


def test_positive_result_is_not_progression(series):
    [evaluation] = series(MrdAssessment(method="flow", sensitivity=1e-4, detected=True))
    assert (evaluation.category, evaluation.response) == ("MRD-positive", Response.NOT_EVALUABLE)
    assert evaluation.depth is None


@pytest.mark.parametrize(
    "raw",
    [
        {"system": "mrd", "detected": False},
        {"system": "mrd", "sensitivity": 1e-5, "detected": False},
        {"system": "mrd", "method": "pcr", "detected": False},
        {"system": "mrd", "method": "guess", "sensitivity": 1e-5, "detected": False},
    ],
)
def test_mrd_without_method_and_sensitivity_is_rejected(raw):
    with pytest.raises(ValidationError):
        ASSESSMENT.validate_python(raw)


@pytest.mark.parametrize("sensitivity", [0.0, 1.0, 1.5, -1e-5])
def test_sensitivity_must_lie_between_0_and_1(sensitivity):
    with pytest.raises(ValidationError):
        MrdAssessment(method="pcr", sensitivity=sensitivity, detected=False)


def test_a_bare_boolean_is_not_an_mrd_result():
    with pytest.raises(ValidationError):
        ASSESSMENT.validate_python({"system": "mrd", "mrd": True})
