"""Lab values as reported, censored ones included: "<0.1 ng/mL" is not 0.1 ng/mL.

`lab.resulted` carries `value` and, for a result outside the measuring range, a `comparator`
("<", "<=", ">", ">="; HL7 v2 SN `<^0.1`, FHIR Quantity.comparator): the true value lies on
that side of `value`. A rule that reads a lab value asks `LabValue.at_least(threshold)` or
`below(threshold)` and gets True, False, or None when a censored value cannot say (a PSA
"<0.5" against the 0.2 ng/mL recurrence threshold). Never compare the bare number.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from models.events import ResultStatus
from models.view import LAB_COMPARATOR_SHIFT, Code

if TYPE_CHECKING:
    from models.state import PatientState

Comparator = Literal["<", "<=", ">", ">="]
COMPARATORS: Final[tuple[Comparator, ...]] = ("<", "<=", ">", ">=")


@dataclass(frozen=True, slots=True)
class LabValue:
    """A reported value: exact (`comparator` None) or censored at `value`."""

    value: float
    comparator: Comparator | None = None

    @property
    def censored(self) -> bool:
        return self.comparator is not None

    def at_least(self, threshold: float) -> bool | None:
        """Whether the true value is >= `threshold`; None when the report cannot tell."""
        v, c = self.value, self.comparator
        if c is None:
            return v >= threshold
        if c == "<":
            return False if v <= threshold else None
        if c == "<=":
            return False if v < threshold else None
        if c == ">":
            return True if v >= threshold else None
        return True if v >= threshold else None  # ">=": true value >= v

    def below(self, threshold: float) -> bool | None:
        """Whether the true value is < `threshold`; None when the report cannot tell."""
        answer = self.at_least(threshold)
        return None if answer is None else not answer

    def __str__(self) -> str:
        return f"{self.comparator or ''}{self.value:g}"


def comparator_index(comparator: Comparator | None) -> int:
    """0 for an exact value, 1-4 for `COMPARATORS` (how the journal stores it)."""
    return 0 if comparator is None else COMPARATORS.index(comparator) + 1


def comparator_of(index: int) -> Comparator | None:
    """The inverse of `comparator_index`."""
    return None if index == 0 else COMPARATORS[index - 1]


_INT64, _FLOAT64 = struct.Struct("<q"), struct.Struct("<d")


def lab_results(state: PatientState, codes: Iterable[str]) -> list[tuple[int, LabValue]]:
    """Every final or corrected result under one of `codes`, oldest first, as (seconds since
    the epoch, LabValue): what a rule reading lab values reads (retracted and replaced results
    left out; a value absent on the wire reads as 0)."""
    wanted = set(codes)
    names = state.journal.names
    retracted = state.view.retracted
    found: list[tuple[int, LabValue]] = []
    for record in state.journal:
        if record.code != Code.LAB or names[record.ref] not in wanted:
            continue
        if record.digest in retracted or (record.aux2 & _STATUS_MASK) not in _FINAL_STATUSES:
            continue
        value = _FLOAT64.unpack(_INT64.pack(record.aux))[0]
        found.append(
            (record.at, LabValue(value, comparator_of(record.aux2 >> LAB_COMPARATOR_SHIFT)))
        )
    return found


_STATUS_MASK = (1 << LAB_COMPARATOR_SHIFT) - 1
_FINAL_STATUSES = frozenset(
    n
    for n, status in enumerate(ResultStatus)
    if status in (ResultStatus.FINAL, ResultStatus.CORRECTED)
)  # indexes as models.state stores them
