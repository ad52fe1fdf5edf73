"""Circulating tumour cells in HER2-positive metastatic breast cancer (the seeds' rule): remission
needs 0-1 CTC per sample AND phenotype (stemness) markers negative or dim.

Progression is a rise to >= 5 CTC per 7.5 mL, the CellSearch prognostic cut-off of Cristofanilli
et al., N Engl J Med 2004 (check: a prognostic threshold, not a validated progression rule).
Memory key: `previous_count`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from models.criteria.base import (
    DEPTH_COMPLETE,
    CriteriaMemory,
    Evaluation,
    Measurements,
    Response,
    judged,
)

SYSTEM = "ctc"
REMISSION_MAX_COUNT = 1  # per sample
PROGRESSION_COUNT = 5  # per 7.5 mL sample (check)


class CtcAssessment(Measurements):
    """One CTC sample: `count` cells per 7.5 mL (CellSearch) and the stemness phenotype."""

    system: Literal["ctc"] = "ctc"
    count: int = Field(ge=0)
    phenotype: Literal["negative", "dim", "positive"]


def evaluate_ctc(
    memory: CriteriaMemory, assessment: CtcAssessment
) -> tuple[Evaluation, CriteriaMemory]:
    """CTC-remission -> COMPLETE; stemness-active, CTC-detected and CTC-high -> STABLE with
    `ends_remission` (seed 001: remission needs CTC 0-1 AND markers negative or dim, so either
    failing ends a CTC remission); CTC-rise (>= 5 after a count below 5) -> PROGRESSION. A first
    count of >= 5 is CTC-high, not a rise: there is nothing yet to rise from."""
    count, phenotype = assessment.count, assessment.phenotype
    previous = memory.get("previous_count")
    memory = memory.with_values(previous_count=float(count))
    detail = f"{count} CTC per sample, phenotype markers {phenotype}"
    if count <= REMISSION_MAX_COUNT and phenotype != "positive":
        return judged(
            SYSTEM, "CTC-remission", Response.COMPLETE, detail, metric=count, depth=DEPTH_COMPLETE
        ), memory
    if count <= REMISSION_MAX_COUNT:
        detail += ": stemness markers active, not remission"
        return judged(
            SYSTEM, "stemness-active", Response.STABLE, detail, metric=count, ends_remission=True
        ), memory
    if count < PROGRESSION_COUNT:
        detail += f": more than {REMISSION_MAX_COUNT} CTC, not remission"
        return judged(
            SYSTEM, "CTC-detected", Response.STABLE, detail, metric=count, ends_remission=True
        ), memory
    if isinstance(previous, float) and previous < PROGRESSION_COUNT:
        detail += f", up from {previous:g}"
        return judged(SYSTEM, "CTC-rise", Response.PROGRESSION, detail, metric=count), memory
    return judged(
        SYSTEM, "CTC-high", Response.STABLE, detail, metric=count, ends_remission=True
    ), memory
