"""The public entry point: dispatch by system, wire format, immutability and purity."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import pytest
from pydantic import TypeAdapter, ValidationError

import models.criteria
from models.criteria import SOURCES, Assessment, CriteriaMemory, Response, evaluate

ASSESSMENT = TypeAdapter(Assessment)

EXAMPLES = {
    "recist": {
        "system": "recist",
        "targets": [{"lesion_id": "l1", "organ": "liver", "is_node": False, "diameter_mm": 22}],
    },
    "who": {
        "system": "who",
        "lesions": [{"lesion_id": "l1", "longest_mm": 20, "perpendicular_mm": 15}],
    },
    "lugano": {"system": "lugano", "deauville": 2},
    "imwg": {
        "system": "imwg",
        "serum_immunofixation": "positive",
        "urine_immunofixation": "negative",
        "serum_m_protein_g_dl": 2.5,
    },
    "eln": {
        "system": "eln",
        "marrow_blasts_pct": 2,
        "circulating_blasts": False,
        "extramedullary_disease": False,
        "anc_10e9_l": 1.2,
        "platelets_10e9_l": 120,
    },
    "ata": {"system": "ata", "imaging": "negative", "tg_ng_ml": 0.1, "tg_antibodies": "absent"},
    "pathologic": {
        "system": "pathologic",
        "residual_invasive_breast": False,
        "residual_invasive_nodes": False,
    },
    "mrd": {"system": "mrd", "method": "ngs", "sensitivity": 1e-6, "detected": False},
    "ctc": {"system": "ctc", "count": 0, "phenotype": "negative"},
    "psa": {"system": "psa", "value_ng_ml": 0.03, "setting": "prostatectomy"},
}
FIRST_CATEGORIES = {
    "recist": "baseline",
    "who": "baseline",
    "lugano": "CMR",
    "imwg": "baseline",
    "eln": "CR",
    "ata": "excellent",
    "pathologic": "pCR",
    "mrd": "MRD-negative",
    "ctc": "CTC-remission",
    "psa": "undetectable",
}


def test_every_system_has_an_example():
    systems = {m.model_fields["system"].default for m in get_args(get_args(Assessment)[0])}
    assert systems == set(EXAMPLES)


@pytest.mark.parametrize("system", sorted(EXAMPLES))
def test_evaluate_dispatches_by_system(system):
    assessment = ASSESSMENT.validate_python(EXAMPLES[system])
    evaluation, _ = evaluate(CriteriaMemory(), assessment)
    assert (evaluation.system, evaluation.category) == (system, FIRST_CATEGORIES[system])


@pytest.mark.parametrize("system", sorted(EXAMPLES))
def test_json_round_trip_is_lossless(system):
    assessment = ASSESSMENT.validate_python(EXAMPLES[system])
    assert ASSESSMENT.validate_json(ASSESSMENT.dump_json(assessment)) == assessment


@pytest.mark.parametrize("system", sorted(EXAMPLES))
def test_unknown_fields_are_rejected(system):
    with pytest.raises(ValidationError):
        ASSESSMENT.validate_python(EXAMPLES[system] | {"surprise": 1})


@pytest.mark.parametrize("system", sorted(EXAMPLES))
def test_same_inputs_give_same_outputs(system):
    assessment = ASSESSMENT.validate_python(EXAMPLES[system])
    memory = CriteriaMemory().with_values(nadir=None)
    assert evaluate(memory, assessment) == evaluate(memory, assessment)


def test_unknown_system_is_rejected():
    with pytest.raises(ValidationError):
        ASSESSMENT.validate_python({"system": "vibes", "good": True})


def test_assessments_are_frozen():
    assessment = ASSESSMENT.validate_python(EXAMPLES["psa"])
    with pytest.raises(ValidationError):
        assessment.value_ng_ml = 5.0  # type: ignore[union-attr]


def test_a_response_assessed_event_carries_an_assessment():
    from models.events import parse_event

    event = parse_event(
        {
            "type": "response.assessed",
            "event_id": "e1",
            "patient_id": "p1",
            "occurred_at": "2025-03-03T10:00:00+00:00",
            "recorded_at": "2025-03-03T10:05:00+00:00",
            "source": "test",
            "assessment": EXAMPLES["ctc"],
        }
    )
    evaluation, _ = evaluate(CriteriaMemory(), event.assessment)  # type: ignore[union-attr]
    assert evaluation.response is Response.COMPLETE


def test_every_system_cites_a_source():
    assert set(EXAMPLES) <= set(SOURCES)
    assert all(source.citation and source.year > 1970 for source in SOURCES.values())


ALLOWED_IMPORTS = {
    "__future__", "collections", "dataclasses", "datetime", "enum", "functools", "math", "types",
    "typing",
    "pydantic", "models",
}  # fmt: skip


def imported_roots(source: str) -> set[str]:
    """The top-level package of every import in `source`."""
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0])
    return roots


@pytest.mark.parametrize(
    "path", sorted(Path(models.criteria.__file__).parent.glob("*.py")), ids=lambda p: p.name
)
def test_the_package_imports_nothing_that_does_io(path):
    source = path.read_text()
    assert imported_roots(source) <= ALLOWED_IMPORTS
    assert "now(" not in source
    assert "today(" not in source
