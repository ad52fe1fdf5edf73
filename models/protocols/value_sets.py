"""Lab markers as value sets: which LOINC codes count as "a PSA", "a CEA"...

The data file (`models/protocols/value_sets/markers.yaml`, read by
`remission_watch.protocol_files`) cites, per marker, the maintained value set its codes come
from (NLM VSAC, HL7 mCODE, LOINC's own part groups). This module parses its text; it reads no
file. A protocol rule names markers (`satisfied_by: {markers: [psa]}`) and the catalog expands
them to codes.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cached_property
from typing import Annotated, Any

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from models.protocols.conditions import Frozen
from models.protocols.errors import ProtocolError
from models.protocols.parse import _StrictLoader, problems_of
from models.protocols.schema import RuleId, Text, loinc_problem

LOINC_CODE = re.compile(r"^[0-9]{1,7}-[0-9]$")


class Code(Frozen):
    """One LOINC code with its display name as the cited set gives it."""

    code: str
    display: Annotated[str, Field(min_length=1, max_length=200)] | None = None

    @field_validator("code")
    @classmethod
    def _valid(cls, code: str) -> str:
        problem = loinc_problem(code)
        if problem is not None:
            raise ValueError(problem)
        return code


class Marker(Frozen):
    """One marker: the codes that count as it, and related codes that are recognised only."""

    id: RuleId
    label: Text
    source: Text
    vsac: Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)+$")] | None = None
    loinc_part: Annotated[str, Field(pattern=r"^LP[0-9]+-[0-9]$")] | None = None
    codes: tuple[Code, ...] = Field(min_length=1)
    related: tuple[Code, ...] = ()


class ValueSets(Frozen):
    """Every marker, and a code -> marker index."""

    version: Annotated[str, Field(min_length=1, max_length=32)]
    reviewed: dt.date
    markers: tuple[Marker, ...]

    @model_validator(mode="after")
    def _unique(self) -> ValueSets:
        problems: list[str] = []
        seen: dict[str, str] = {}
        ids: set[str] = set()
        for marker in self.markers:
            if marker.id in ids:
                problems.append(f"marker {marker.id!r}: duplicate id")
            ids.add(marker.id)
            for entry in (*marker.codes, *marker.related):
                if entry.code in seen:
                    problems.append(
                        f"marker {marker.id!r}: code {entry.code} is also in {seen[entry.code]!r}"
                    )
                seen[entry.code] = marker.id
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @cached_property
    def _counting(self) -> dict[str, str]:
        return {entry.code: m.id for m in self.markers for entry in m.codes}

    @cached_property
    def _known(self) -> frozenset[str]:
        return frozenset(e.code for m in self.markers for e in (*m.codes, *m.related))

    @cached_property
    def _by_id(self) -> dict[str, Marker]:
        return {marker.id: marker for marker in self.markers}

    def marker(self, marker_id: str) -> Marker | None:
        """The marker with this id, or None."""
        return self._by_id.get(marker_id)

    def codes_of(self, marker_id: str) -> tuple[str, ...]:
        """The codes that count as `marker_id` (empty for an unknown marker)."""
        marker = self._by_id.get(marker_id)
        return () if marker is None else tuple(entry.code for entry in marker.codes)

    def marker_of(self, code: str) -> str | None:
        """The marker a result under `code` counts as, or None."""
        return self._counting.get(code)

    def knows(self, code: str) -> bool:
        """Whether `code` is in any marker's codes or related codes."""
        return code in self._known

    @classmethod
    def empty(cls) -> ValueSets:
        return cls(version="none", reviewed=dt.date(2000, 1, 1), markers=())


def parse_value_sets(text: str, name: str) -> ValueSets:
    """Parse and validate the value-set file's text; each problem line names `name`."""
    try:
        raw: Any = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: safe
    except yaml.YAMLError as exc:
        raise ProtocolError([f"{name}: not valid YAML: {' '.join(str(exc).split())}"]) from None
    if not isinstance(raw, dict):
        raise ProtocolError([f"{name}: expected a mapping at the top level"])
    try:
        return ValueSets.model_validate(raw)
    except ValidationError as exc:
        raise ProtocolError(problems_of(name, raw, exc, ("markers",), "marker")) from None
