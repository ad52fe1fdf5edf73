"""ELN 2022 AML response (Döhner et al., Blood 2022): marrow blasts and count recovery.

Memory key: `remission` (the last CR/CRh/CRi category), kept through whatever follows (CRi,
MLFS, no response) until a relapse, so a later relapse is recognised as one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from models.criteria.base import (
    DEPTH_COMPLETE,
    DEPTH_PARTIAL,
    CriteriaMemory,
    Evaluation,
    Measurements,
    Response,
    judged,
)
from models.criteria.thresholds import at_least, exceeds, percent_change

SYSTEM = "eln"
MAX_BLASTS_PCT = 5.0  # CR, CRh, CRi, MLFS: marrow blasts below this
CR_ANC = 1.0  # 10^9/L
CR_PLATELETS = 100.0  # 10^9/L
CRH_ANC = 0.5  # 10^9/L
CRH_PLATELETS = 50.0  # 10^9/L
PR_MAX_BLASTS_PCT = 25.0
PR_DECREASE_PCT = 50.0  # marrow blasts, from the pretreatment value
PD_INCREASE_PCT = 50.0  # marrow blasts, more than this above baseline ...
PD_MIN_POINTS = 15.0  # ... by at least 15 points when baseline blasts are < 30%
PD_POINTS_BELOW = 30.0

_RESPONSES = {
    "CR": Response.COMPLETE,
    "CRh": Response.COMPLETE,
    "CRi": Response.COMPLETE,
    "MLFS": Response.PARTIAL,
    "PR": Response.PARTIAL,
    "no_response": Response.STABLE,
    "progressive_disease": Response.PROGRESSION,
    "relapse": Response.PROGRESSION,
}
_REMISSIONS = frozenset({"CR", "CRh", "CRi"})


class ElnAssessment(Measurements):
    """One AML response assessment: marrow blasts (%), blood counts (10^9/L) and disease sites.

    `baseline_blasts_pct` is the pretreatment marrow blast percentage; without it PR and
    progression cannot be judged.
    """

    system: Literal["eln"] = "eln"
    marrow_blasts_pct: float = Field(ge=0, le=100)
    circulating_blasts: bool
    extramedullary_disease: bool
    anc_10e9_l: float = Field(ge=0)
    platelets_10e9_l: float = Field(ge=0)
    baseline_blasts_pct: float | None = Field(default=None, ge=0, le=100)


def evaluate_eln(
    memory: CriteriaMemory, assessment: ElnAssessment
) -> tuple[Evaluation, CriteriaMemory]:
    """Judge one assessment; CR/CRh/CRi map to COMPLETE and MLFS/PR to PARTIAL.

    After a CR/CRh/CRi, whatever came between (MLFS, CRi, no response), marrow blasts >= 5% or
    extramedullary disease is a hematologic relapse (Döhner 2022, Table 6, "relapse"; ELN also
    counts blood blasts in two samples a week apart, which one assessment cannot show).
    """
    label, reason = _category(assessment)
    in_remission = memory.get("remission") is not None
    blasts_back = at_least(assessment.marrow_blasts_pct, MAX_BLASTS_PCT)
    relapsed = blasts_back or assessment.extramedullary_disease
    if in_remission and label not in _REMISSIONS and relapsed:
        label, reason = "relapse", f"after {memory.get('remission')}: {reason}"
    if label in _REMISSIONS:
        memory = memory.with_values(remission=label)
    elif label == "relapse":
        memory = memory.with_values(remission=None)
    depth = DEPTH_COMPLETE if label in _REMISSIONS else None
    if label in ("MLFS", "PR"):
        depth = DEPTH_PARTIAL
    return judged(SYSTEM, label, _RESPONSES[label], reason, depth=depth), memory


def _category(a: ElnAssessment) -> tuple[str, str]:
    """The ELN label before relapse is considered: CR, CRh, CRi, MLFS, PR, PD, or no response."""
    blasts, anc, platelets = a.marrow_blasts_pct, a.anc_10e9_l, a.platelets_10e9_l
    counts = f"ANC {anc:g}, platelets {platelets:g} x10^9/L"
    clear = (
        not at_least(blasts, MAX_BLASTS_PCT)
        and not a.circulating_blasts
        and not a.extramedullary_disease
    )
    anc_ok, platelets_ok = at_least(anc, CR_ANC), at_least(platelets, CR_PLATELETS)
    if clear and anc_ok and platelets_ok:
        return "CR", f"blasts {blasts:g}%, {counts}"
    if clear and at_least(anc, CRH_ANC) and at_least(platelets, CRH_PLATELETS):
        return "CRh", f"blasts {blasts:g}%, partial recovery: {counts}"
    if clear and (anc_ok or platelets_ok):
        return "CRi", f"blasts {blasts:g}%, incomplete recovery: {counts}"
    if clear:
        return "MLFS", f"blasts {blasts:g}% without count recovery: {counts}"
    return _against_baseline(a, anc_ok and platelets_ok)


def _against_baseline(a: ElnAssessment, counts_recovered: bool) -> tuple[str, str]:
    """PR or progression judged against the pretreatment marrow blasts, else no response."""
    blasts, base = a.marrow_blasts_pct, a.baseline_blasts_pct
    if base is None:
        return "no_response", f"blasts {blasts:g}%; no baseline blasts to compare with"
    change = percent_change(blasts, base)
    enough_points = at_least(base, PD_POINTS_BELOW) or at_least(blasts - base, PD_MIN_POINTS)
    if exceeds(change, PD_INCREASE_PCT) and enough_points:
        return "progressive_disease", f"blasts {blasts:g}% vs {base:g}% at baseline"
    in_pr_range = at_least(blasts, MAX_BLASTS_PCT) and at_least(PR_MAX_BLASTS_PCT, blasts)
    if counts_recovered and in_pr_range and at_least(-change, PR_DECREASE_PCT):
        return "PR", f"blasts {blasts:g}%, {-change:.1f}% below {base:g}% at baseline"
    return "no_response", f"blasts {blasts:g}% vs {base:g}% at baseline"
