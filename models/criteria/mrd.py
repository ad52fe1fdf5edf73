"""Measurable residual disease, always with its method and sensitivity, never a bare boolean.

Typical sensitivities (DOMAIN.md §1): flow 1e-4, PCR 1e-5, NGS 1e-6; IMWG counts myeloma
MRD-negative at 1e-5 or deeper. The depth label carries the sensitivity so a reader can judge.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from models.criteria.base import CriteriaMemory, Evaluation, Measurements, Response, judged

SYSTEM = "mrd"


class MrdAssessment(Measurements):
    """One MRD result. `sensitivity` is the assay's limit as a fraction in (0, 1), e.g. 1e-5
    (one abnormal cell in 100,000); `method` and `sensitivity` have no defaults on purpose."""

    system: Literal["mrd"] = "mrd"
    method: Literal["flow", "pcr", "ngs", "ctdna"]
    sensitivity: float = Field(gt=0, lt=1)
    detected: bool


def mrd_depth(method: str, sensitivity: float) -> str:
    """The depth label of a negative result, e.g. "MRD-negative (ngs, 1e-06)"."""
    return f"MRD-negative ({method}, {sensitivity:.0e})"


def evaluate_mrd(
    memory: CriteriaMemory, assessment: MrdAssessment
) -> tuple[Evaluation, CriteriaMemory]:
    """MRD-negative -> COMPLETE (needs confirmation); MRD-positive -> NOT_EVALUABLE, because
    residual disease below imaging is not progression. Memory comes back unchanged."""
    a = assessment
    assay = f"{a.method} at sensitivity {a.sensitivity:.0e}"
    if a.detected:
        detail = f"residual disease detected by {assay}; not progression by itself"
        return judged(SYSTEM, "MRD-positive", Response.NOT_EVALUABLE, detail), memory
    depth = mrd_depth(a.method, a.sensitivity)
    detail = f"no residual disease detected by {assay}"
    evaluation = judged(
        SYSTEM, "MRD-negative", Response.COMPLETE, detail, metric=a.sensitivity, depth=depth
    )
    return evaluation, memory
