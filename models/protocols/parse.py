"""Protocol text to a validated `Protocol`; each problem names the file, the rule and the fault."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

import yaml
from pydantic import ValidationError

from models.protocols.errors import ProtocolError
from models.protocols.schema import Protocol

# libyaml's parser when PyYAML has it (its wheels do): the pure-Python one took half the
# CPU of a small `remission-watch timeline`. Same safe constructors, same documents.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):  # type: ignore[misc]
    """A safe loader that refuses a key given twice (plain YAML keeps the last silently)."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} given twice", key_node.start_mark
            )
        seen.add(key)
    mapping: dict[Any, Any] = loader.construct_mapping(node)
    return mapping


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _mapping_without_duplicates,
)


def parse_protocol(text: str, name: str) -> Protocol:
    """Parse and validate one protocol file's text; `name` (the file name) heads every problem.

    A file named `<id>.yaml` must hold protocol `<id>`. Raises `ProtocolError` listing every
    problem found, one line each: `name: rule 'id': field: problem`.
    """
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: safe
    except yaml.YAMLError as exc:
        raise ProtocolError([f"{name}: not valid YAML: {' '.join(str(exc).split())}"]) from None
    if not isinstance(raw, dict):
        raise ProtocolError([f"{name}: expected a mapping of protocol fields at the top level"])
    try:
        protocol = Protocol.model_validate(raw)
    except ValidationError as exc:
        raise ProtocolError(_problems(name, raw, exc)) from None
    stem = PurePath(name).stem
    if PurePath(name).suffix in {".yaml", ".yml"} and stem != protocol.id:
        raise ProtocolError([f"{name}: id {protocol.id!r} does not match the file name {stem!r}"])
    return protocol


def _problems(name: str, raw: dict[str, Any], exc: ValidationError) -> list[str]:
    return problems_of(name, raw, exc)


_KINDS = {"items": "rule", "do_not_remind": "do_not_remind", "markers": "marker"}


def problems_of(
    name: str,
    raw: dict[str, Any],
    exc: ValidationError,
    lists: tuple[str, ...] = ("items", "do_not_remind"),
    _kind: str = "",
) -> list[str]:
    """One line per validation error: `name: <entry 'id'>: field: problem`, where an entry
    is an element of one of the top-level `lists` named by its `id`."""
    lines: list[str] = []
    for error in exc.errors(include_url=False):
        where = _where(raw, tuple(error["loc"]), lists)
        for message in _message(error).splitlines():
            lines.append(": ".join([name, *where, message]))
    return lines


def _where(
    raw: dict[str, Any],
    loc: tuple[int | str, ...],
    lists: tuple[str, ...] = ("items", "do_not_remind"),
) -> list[str]:
    """("items", 2, "phases", 0) -> ["rule 'mammogram'", "phases[0]"]."""
    head: list[str] = []
    if len(loc) >= 2 and loc[0] in lists and isinstance(loc[1], int):
        entries = raw.get(str(loc[0]))
        entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else None
        ident = entry.get("id") if isinstance(entry, dict) else None
        kind = _KINDS.get(str(loc[0]), str(loc[0]))
        head.append(f"{kind} {ident!r}" if isinstance(ident, str) else f"{kind} #{loc[1] + 1}")
        loc = loc[2:]
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return [*head, path] if path else head


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "missing"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind in ("value_error", "assertion_error"):
        return str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    shown = repr(error.get("input"))
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{error['msg']} (got {shown})"
