"""What differs between two states of one patient, as facts (for `rebuild`'s report)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any, NamedTuple

from models.state import PatientState
from models.view import Code

ABSENT = "(absent)"
_LONGEST = 160  # characters of one value shown; a payload can be long


class Difference(NamedTuple):
    """One field (a dotted path into the state) whose two values differ, both shown."""

    path: str
    rebuilt: str
    live: str


def differences(rebuilt: PatientState, live: PatientState) -> list[Difference]:
    """The facts one state holds and the other lacks, then every derived field that differs.

    Equal facts in another arrival order, or interned under other numbers (journal order,
    name and payload indexes), are no difference: facts are compared with names and payloads
    resolved. `emitted` is compared like any field; leave it out first if it must not count.
    """
    found: list[Difference] = []
    mine, theirs = set(rebuilt.facts()), set(live.facts())
    found += [Difference("facts", _fact(f), ABSENT) for f in sorted(mine - theirs, key=_at)]
    found += [Difference("facts", ABSENT, _fact(f)) for f in sorted(theirs - mine, key=_at)]
    _walk("view", rebuilt.view, live.view, found)
    _walk("emitted", rebuilt.emitted, live.emitted, found)
    return found


def _walk(path: str, a: Any, b: Any, found: list[Difference]) -> None:
    """Descend into records and equal-length tuples to name the innermost field that differs."""
    if a == b:
        return
    if isinstance(a, tuple) and type(a) is type(b) and hasattr(a, "_fields"):
        for name in a._fields:
            _walk(f"{path}.{name}", getattr(a, name), getattr(b, name), found)
    elif dataclasses.is_dataclass(a) and type(a) is type(b):
        for f in dataclasses.fields(a):
            _walk(f"{path}.{f.name}", getattr(a, f.name), getattr(b, f.name), found)
    elif isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            _walk(f"{path}[{n}]", x, y, found)
    elif isinstance(a, frozenset) and isinstance(b, frozenset):
        found.append(Difference(path, _show(sorted(a - b)), _show(sorted(b - a))))
    else:
        found.append(Difference(path, _show(a), _show(b)))


def _at(fact: tuple[Any, ...]) -> tuple[int, int, int]:
    return fact[0], fact[1], fact[2]  # instant, kind, id digest: journal order


def _fact(fact: tuple[Any, ...]) -> str:
    """A journal fact as a reader knows it: kind, instant, name, id digest and payload."""
    at, code, digest, name, payload, extra = fact
    kind = Code(code).name.lower()
    try:
        when = datetime.fromtimestamp(at, UTC).isoformat()
    except (OverflowError, OSError, ValueError):  # outside datetime's years
        when = f"epoch second {at}"
    text = f"{kind} at {when}" + (f" {name}" if name else "") + f" id#{digest:016x}"
    if payload or extra:
        text += f" {_show(payload)} {_show(extra)}"
    return text


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _LONGEST else text[: _LONGEST - 1] + "…"
