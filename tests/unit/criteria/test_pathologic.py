"""Pathologic response: pCR is no residual invasive cancer in breast and nodes; residual disease
completely resected is no evidence of disease after resection, not a pCR and not partial."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from models.criteria import PathologicAssessment, Response


def test_no_residual_invasive_disease_is_pcr(series):
    [evaluation] = series(
        PathologicAssessment(
            residual_invasive_breast=False, residual_invasive_nodes=False, ypt="ypTis", ypn="ypN0"
        )
    )
    assert (evaluation.category, evaluation.response, evaluation.depth) == (
        "pCR",
        Response.COMPLETE,
        "pCR",
    )


@pytest.mark.parametrize(("breast", "nodes"), [(True, False), (False, True), (True, True)])
@pytest.mark.parametrize("resection", [None, "R0"])
def test_residual_invasive_disease_resected_is_ned_not_pcr_not_partial(
    series, breast, nodes, resection
):
    # FDA 2020 pCR guidance (ypT0/is ypN0); DOMAIN.md §1: partial means tumour still present
    [evaluation] = series(
        PathologicAssessment(
            residual_invasive_breast=breast, residual_invasive_nodes=nodes, resection=resection
        )
    )
    assert (evaluation.category, evaluation.response) == ("resected_no_pCR", Response.COMPLETE)
    assert evaluation.depth == "NED after resection (not pCR)"


def test_case_c20_residual_ypt1a_after_neoadjuvant_therapy(series):
    [evaluation] = series(
        PathologicAssessment(
            residual_invasive_breast=True, residual_invasive_nodes=False, ypt="ypT1a", ypn="ypN0"
        )
    )
    assert evaluation.response is not Response.PARTIAL
    assert evaluation.category == "resected_no_pCR"
    assert "not a pCR" in evaluation.detail


@pytest.mark.parametrize("resection", ["R1", "R2"])
def test_an_incomplete_resection_leaves_disease_and_no_remission(series, resection):
    [evaluation] = series(
        PathologicAssessment(
            residual_invasive_breast=True, residual_invasive_nodes=False, resection=resection
        )
    )
    assert (evaluation.category, evaluation.response) == ("residual_tumour", Response.STABLE)


@pytest.mark.parametrize(
    "fields",
    [
        {"residual_invasive_breast": False, "residual_invasive_nodes": False, "ypt": "ypT1a"},
        {"residual_invasive_breast": True, "residual_invasive_nodes": False, "ypt": "ypT0"},
        {"residual_invasive_breast": False, "residual_invasive_nodes": False, "ypn": "ypN1a"},
        {"residual_invasive_breast": False, "residual_invasive_nodes": False, "ypn": "ypN0(i+)"},
    ],
)
def test_stage_contradicting_the_booleans_is_rejected(fields):
    with pytest.raises(ValidationError, match="contradicts"):
        PathologicAssessment(**fields)


def test_an_unknown_stage_is_rejected():
    with pytest.raises(ValidationError):
        PathologicAssessment(residual_invasive_breast=True, residual_invasive_nodes=False, ypt="T2")
