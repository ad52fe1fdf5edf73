"""What every response-criteria system returns: its own category mapped onto one common ladder."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Response(StrEnum):
    """The common ladder the remission fold works with, whatever the criteria system."""

    COMPLETE = "complete"
    PARTIAL = "partial"
    STABLE = "stable"
    PROGRESSION = "progression"
    NOT_EVALUABLE = "not_evaluable"


# Depth of remission, shallow to deep (DOMAIN.md §1): PR < CR by imaging < pCR < MRD-negative.
# "CR" is a complete response judged without imaging (IMWG, ELN, ATA, CTC, PSA).
DEPTH_PARTIAL = "PR"
DEPTH_COMPLETE = "CR"
DEPTH_IMAGING_CR = "CR by imaging"
DEPTH_PATHOLOGIC_CR = "pCR"
# After neoadjuvant therapy and surgery with residual invasive disease in the specimen: the
# tumour was removed (no evidence of disease), but it is not a pCR (FDA 2020 pCR guidance).
DEPTH_RESECTED = "NED after resection (not pCR)"
DEPTH_MRD_NEGATIVE = "MRD-negative"  # prefix: the label carries method and sensitivity (mrd.py)

# Shallow to deep (DOMAIN.md §1); a label not listed (None) ranks below all.
_DEPTH_RANK = {
    DEPTH_PARTIAL: 1,
    DEPTH_COMPLETE: 2,
    DEPTH_RESECTED: 2,
    DEPTH_IMAGING_CR: 3,
    DEPTH_PATHOLOGIC_CR: 4,
}


def depth_rank(depth: str | None) -> int:
    """Where a depth label sits on the ladder PR < CR < CR by imaging < pCR < MRD-negative."""
    if depth is None:
        return 0
    if depth.startswith(DEPTH_MRD_NEGATIVE):
        return 5
    return _DEPTH_RANK.get(depth, 0)


class Measurements(BaseModel):
    """Base of every assessment model: raw measurements, frozen, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)  # finite only


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One assessment judged by one criteria system.

    `category` is the system's own label (RECIST "PR", Lugano "CMR", IMWG "VGPR", ATA
    "excellent", ...); `response` maps it onto the common ladder; `needs_confirmation` is True
    for a complete or partial response and for any category the system says needs a second
    assessment (what confirms what is `models.criteria.confirmation.RULES`, per system);
    `detail` says in words why. `ends_remission` marks a category that is not progression but
    says the remission criteria no longer hold (ATA biochemical incomplete after excellent, CTC
    stemness markers back); `molecular_relapse` marks a confirmed MRD relapse (ELN MRD 2021),
    which the care team must hear about.
    """

    system: str
    category: str
    response: Response
    needs_confirmation: bool
    detail: str
    metric: float | None = None
    depth: str | None = None
    ends_remission: bool = False
    molecular_relapse: bool = False


def judged(
    system: str,
    category: str,
    response: Response,
    detail: str,
    *,
    metric: float | None = None,
    depth: str | None = None,
    needs_confirmation: bool | None = None,
    ends_remission: bool = False,
) -> Evaluation:
    """An Evaluation; `needs_confirmation` defaults to True for a complete or partial response."""
    if needs_confirmation is None:
        needs_confirmation = response in _CONFIRMED
    return Evaluation(
        system, category, response, needs_confirmation, detail, metric, depth, ends_remission
    )


_CONFIRMED = (Response.COMPLETE, Response.PARTIAL)  # a global: an enum member lookup is slow


def not_evaluable(system: str, detail: str, metric: float | None = None) -> Evaluation:
    """An assessment the system cannot judge; the reason is in `detail`."""
    return Evaluation(system, "not_evaluable", Response.NOT_EVALUABLE, False, detail, metric)


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
        kept = [(k, v) for k, v in self.values if k not in updates]
        kept += sorted(updates.items())
        return CriteriaMemory(tuple(kept))
