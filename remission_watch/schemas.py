"""`remission-watch schemas`: write the wire format's JSON Schemas, or check the committed ones."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from models.events import EVENT_TYPES, event_json_schema
from models.outputs import Output

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "schemas",
        help="write the JSON Schemas of events and outputs",
        description="Write one JSON Schema per event type, the event union and the outputs.",
    )
    parser.add_argument("--out", type=Path, default=Path("schemas"), help="folder (schemas/)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if a committed file differs from the generated one",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    folder: Path = args.out
    expected = generate()
    if args.check:
        problems = check(folder, expected)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("run `remission-watch schemas` and commit the result", file=sys.stderr)
        return 1 if problems else 0
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in expected.items():
        (folder / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(expected)} schemas to {folder}")
    for stale in _stale(folder, expected):
        print(f"{stale}: not generated any more; delete it", file=sys.stderr)
    return 0


def generate() -> dict[str, str]:
    """File name -> JSON text: `<type>.schema.json` per event, `events`, `outputs`."""
    schemas: dict[str, dict[str, Any]] = {}
    for model in EVENT_TYPES:
        schema = model.model_json_schema()
        schema.setdefault("required", []).append("type")
        schemas[f"{model.model_fields['type'].default}.schema.json"] = schema
    schemas["events.schema.json"] = event_json_schema()
    schemas["outputs.schema.json"] = TypeAdapter(Output).json_schema()
    return {name: _dump(_require_discriminators(schema)) for name, schema in schemas.items()}


def check(folder: Path, expected: dict[str, str]) -> list[str]:
    """One line per file in `folder` that is missing, differs, or is no longer generated."""
    problems = []
    for name, text in expected.items():
        path = folder / name
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path}: differs from the generated schema")
    problems += [f"{path}: not generated any more" for path in _stale(folder, expected)]
    return problems


def _stale(folder: Path, expected: dict[str, str]) -> list[Path]:
    return sorted(p for p in folder.glob("*.schema.json") if p.name not in expected)


def _require_discriminators(schema: dict[str, Any]) -> dict[str, Any]:
    """Mark each discriminator property required in the variants it selects.

    Pydantic gives `type` (and `system`) a default, so its schema leaves them optional; on the
    wire they are required, because the discriminated union cannot pick a model without them.
    """
    defs = schema.get("$defs", {})
    for node in _walk(schema):
        discriminator = node.get("discriminator")
        if not isinstance(discriminator, dict):
            continue
        prop = discriminator["propertyName"]
        for ref in discriminator.get("mapping", {}).values():
            variant = defs[ref.removeprefix("#/$defs/")]
            if prop not in variant.setdefault("required", []):
                variant["required"].append(prop)
    return {"$schema": DIALECT, **schema}


def _walk(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        return [node, *(n for value in node.values() for n in _walk(value))]
    if isinstance(node, list):
        return [n for value in node for n in _walk(value)]
    return []


def _dump(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
