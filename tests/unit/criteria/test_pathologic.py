"""Pathologic complete response: no residual invasive cancer in breast and nodes."""

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
    assert evaluation.needs_confirmation is True


@pytest.mark.parametrize(("breast", "nodes"), [(True, False), (False, True), (True, True)])
def test_residual_invasive_disease_anywhere_is_not_pcr(series, breast, nodes):
    [evaluation] = series(
        PathologicAssessment(residual_invasive_breast=breast, residual_invasive_nodes=nodes)
    )
    assert (evaluation.category, evaluation.response) == ("residual_disease", Response.PARTIAL)


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
