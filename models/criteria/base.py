"""What every response-criteria system returns: its own category mapped onto one common ladder."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Response(StrEnum):
    """The common ladder the remission fold works with, whatever the criteria system."""

    COMPLETE = "complete"
    PARTIAL = "partial"
    STABLE = "stable"
    PROGRESSION = "progression"
    NOT_EVALUABLE = "not_evaluable"


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One assessment judged by one criteria system.

    `category` is the system's own label (RECIST "PR", Lugano "CMR", IMWG "VGPR", ATA
    "excellent", ...); `response` maps it onto the common ladder; `needs_confirmation` is True
    for a complete or partial response (it counts only once it has lasted >= 4 weeks) and for
    any category the system says needs a second assessment; `detail` says in words why.
    """

    system: str
    category: str
    response: Response
    needs_confirmation: bool
    detail: str
    metric: float | None = None
    depth: str | None = None


@dataclass(frozen=True, slots=True)
class CriteriaMemory:
    """What a system must remember between assessments, per system name.

    For RECIST/WHO/Lugano-CT: `baseline` and `nadir` of the summed measure; IMWG: baseline and
    nadir M-protein and the previous category; iRECIST: an unconfirmed progression date;
    prostate: the PSA nadir and a pending first rise. Values are plain floats/strings so the
    state stays small and serialisable.
    """

    values: tuple[tuple[str, float | str | None], ...] = field(default=())

    def get(self, key: str) -> float | str | None:
        for name, value in self.values:
            if name == key:
                return value
        return None

    def with_values(self, **updates: float | str | None) -> CriteriaMemory:
        kept = tuple((k, v) for k, v in self.values if k not in updates)
        return CriteriaMemory(kept + tuple(sorted(updates.items())))
