"""The committed JSON Schemas match the models, and the wire-format doc's examples parse."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from models.events import EVENT_TYPES, parse_event
from models.outputs import parse_output
from remission_watch import schemas

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
DOC = ROOT / "docs" / "wire-format.md"
OUTPUT_TYPES = {"reminder.due", "reminder.cancelled", "alert.raised"}
EVENT_TYPE_NAMES = {model.model_fields["type"].default for model in EVENT_TYPES}

LAB = {
    "type": "lab.resulted",
    "event_id": "hl7:MAIN-LAB:F12345:2857-1:1",
    "patient_id": "p-3e6d4c12",
    "occurred_at": "2027-02-03T08:15:00-06:00",
    "recorded_at": "2027-02-03T14:02:00-06:00",
    "source": "hl7:MAIN-LAB",
    "order_id": "F12345",
    "loinc": "2857-1",
    "value": 0.04,
    "unit": "ng/mL",
}


def _schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _errors(schema: dict[str, Any], instance: object) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [error.message for error in validator.iter_errors(instance)]


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    schemas.register(parser.add_subparsers())
    args = parser.parse_args(["schemas", *argv])
    return int(args.handler(args))


def test_committed_schemas_equal_freshly_generated_ones() -> None:
    expected = schemas.generate()
    assert sorted(expected) == sorted(p.name for p in SCHEMAS.glob("*.schema.json"))
    stale = [name for name, text in expected.items() if (SCHEMAS / name).read_text() != text]
    assert stale == [], "run `remission-watch schemas` and commit schemas/"


def test_one_schema_per_event_type_plus_the_unions() -> None:
    names = set(schemas.generate())
    assert names == {f"{t}.schema.json" for t in EVENT_TYPE_NAMES} | {
        "events.schema.json",
        "outputs.schema.json",
    }


def test_check_passes_on_fresh_output_and_names_the_file_that_differs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli("--out", str(tmp_path)) == 0
    assert _cli("--out", str(tmp_path), "--check") == 0
    (tmp_path / "lab.resulted.schema.json").write_text("{}\n")
    capsys.readouterr()
    assert _cli("--out", str(tmp_path), "--check") == 1
    assert "lab.resulted.schema.json" in capsys.readouterr().err


def test_check_fails_on_a_missing_or_stale_file(tmp_path: Path) -> None:
    assert _cli("--out", str(tmp_path)) == 0
    (tmp_path / "outputs.schema.json").unlink()
    assert _cli("--out", str(tmp_path), "--check") == 1
    assert _cli("--out", str(tmp_path)) == 0
    (tmp_path / "old.thing.schema.json").write_text("{}\n")
    assert _cli("--out", str(tmp_path), "--check") == 1


@pytest.mark.parametrize("name", ["events.schema.json", "lab.resulted.schema.json"])
def test_a_valid_event_validates(name: str) -> None:
    assert _errors(_schema(name), LAB) == []
    parse_event(json.dumps(LAB))  # and the model agrees


@pytest.mark.parametrize(
    "change",
    [
        {"patient_id": "jane.doe@example.com"},  # not pseudonymous
        {"loinc": "PSA"},
        {"type": None},  # the discriminator is required on the wire
        {"status": "maybe"},
        {"phone": "+1 555 010 0199"},  # extra fields are rejected
        {"event_id": ""},
    ],
)
@pytest.mark.parametrize("name", ["events.schema.json", "lab.resulted.schema.json"])
def test_an_invalid_event_does_not_validate(name: str, change: dict[str, object]) -> None:
    invalid = {k: v for k, v in (LAB | change).items() if v is not None}
    assert _errors(_schema(name), invalid) != []
    with pytest.raises(ValueError):  # pydantic.ValidationError is a ValueError
        parse_event(json.dumps(invalid))


def test_an_assessment_needs_its_system() -> None:
    event = {
        "type": "response.assessed",
        "event_id": "x-1",
        "patient_id": "p-1",
        "occurred_at": "2026-06-01T14:20:00Z",
        "recorded_at": "2026-06-01T14:20:00Z",
        "source": "test",
        "assessment": {"method": "ngs", "sensitivity": 1e-05, "detected": False},
    }
    assert _errors(_schema("events.schema.json"), event) != []
    event["assessment"] = {
        "system": "mrd",
        "method": "ngs",
        "sensitivity": 1e-05,
        "detected": False,
    }
    assert _errors(_schema("events.schema.json"), event) == []


def _doc_examples() -> list[dict[str, Any]]:
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    return [json.loads(block) for block in blocks]


def test_the_doc_shows_every_event_and_output_type() -> None:
    shown = {example["type"] for example in _doc_examples()}
    assert shown == EVENT_TYPE_NAMES | OUTPUT_TYPES


@pytest.mark.parametrize(
    "example", _doc_examples(), ids=lambda e: f"{e['type']}:{e.get('event_id', '')}"
)
def test_every_doc_example_parses_and_validates(example: dict[str, Any]) -> None:
    raw = json.dumps(example)
    if example["type"] in OUTPUT_TYPES:
        assert parse_output(raw).type == example["type"]
        schema = _schema("outputs.schema.json")
    else:
        assert parse_event(raw).type == example["type"]
        schema = _schema("events.schema.json")
    assert _errors(schema, example) == []


def test_the_doc_correction_uses_three_distinct_ids() -> None:
    (correction,) = [e for e in _doc_examples() if e["type"] == "event.corrected"]
    ids = {correction["event_id"], correction["target_event_id"]}
    ids.add(correction["replacement"]["event_id"])
    assert len(ids) == 3
