"""MRD: method and sensitivity are required; MRD-negative is a depth, judged against the
disease's sensitivity threshold; a conversion confirmed by a second positive is an MRD relapse."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from models.criteria import Assessment, CriteriaMemory, Evaluation, MrdAssessment, Response
from models.criteria.mrd import evaluate_mrd

ASSESSMENT = TypeAdapter(Assessment)


def mrd(detected: bool, sensitivity: float = 1e-5, method: str = "pcr") -> MrdAssessment:
    return MrdAssessment(method=method, sensitivity=sensitivity, detected=detected)


def results(site: str | None, *assessments: MrdAssessment) -> list[Evaluation]:
    memory, out = CriteriaMemory(), []
    for assessment in assessments:
        evaluation, memory = evaluate_mrd(memory, assessment, site)
        out.append(evaluation)
    return out


def test_negative_result_is_a_depth_with_method_and_sensitivity_not_a_response(series):
    [evaluation] = series(MrdAssessment(method="ngs", sensitivity=1e-6, detected=False))
    assert (evaluation.category, evaluation.response) == ("MRD-negative", Response.NOT_EVALUABLE)
    assert evaluation.depth == "MRD-negative (ngs, 1e-06)"


@pytest.mark.parametrize(
    ("site", "sensitivity", "category"),
    [
        # Kumar 2016 (IMWG): myeloma MRD-negative needs a sensitivity of 1e-5 or better
        ("myeloma", 1e-4, "MRD-negative-insufficient"),  # case c18
        ("myeloma", 2e-5, "MRD-negative-insufficient"),
        ("myeloma", 1e-5, "MRD-negative"),
        ("myeloma", 0.00001, "MRD-negative"),
        ("myeloma", 1e-6, "MRD-negative"),
        # Heuser 2021 (ELN MRD): AML threshold 0.1%
        ("aml", 2e-3, "MRD-negative-insufficient"),
        ("aml", 1e-3, "MRD-negative"),
        ("aml", 1e-5, "MRD-negative"),
        # no threshold on file: shown with its sensitivity for the reader to judge
        ("breast", 1e-2, "MRD-negative"),
        (None, 1e-4, "MRD-negative"),
    ],
)
def test_mrd_negative_needs_the_disease_sensitivity(site, sensitivity, category):
    [evaluation] = results(site, mrd(False, sensitivity, "flow"))
    assert evaluation.category == category
    assert (evaluation.depth is not None) == (category == "MRD-negative")


def test_case_c15_conversion_confirmed_by_a_second_positive_is_an_mrd_relapse():
    # Heuser 2021 (ELN MRD): MRD relapse = conversion from negative to positive, confirmed in a
    # second consecutive sample
    evaluations = results("aml", mrd(False), mrd(True), mrd(True))
    assert [e.category for e in evaluations] == ["MRD-negative", "MRD-conversion", "MRD-relapse"]
    assert [e.molecular_relapse for e in evaluations] == [False, False, True]


def test_a_conversion_followed_by_a_negative_is_not_a_relapse():
    evaluations = results("aml", mrd(False), mrd(True), mrd(False), mrd(True))
    assert [e.category for e in evaluations] == [
        "MRD-negative",
        "MRD-conversion",
        "MRD-negative",
        "MRD-conversion",
    ]
    assert not any(e.molecular_relapse for e in evaluations)


def test_positive_results_without_a_negative_before_are_no_relapse():
    evaluations = results("aml", mrd(True), mrd(True))
    assert [e.category for e in evaluations] == ["MRD-positive", "MRD-positive"]


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
