"""ATA 2015 response to therapy in differentiated thyroid cancer (Haugen et al., Thyroid 2016),
after total thyroidectomy and radioiodine, from imaging, thyroglobulin and Tg antibodies."""

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
from models.criteria.thresholds import at_least

SYSTEM = "ata"
# Tg thresholds in ng/mL: (excellent below, biochemical incomplete from), by TSH state.
SUPPRESSED_TG = (0.2, 1.0)
STIMULATED_TG = (1.0, 10.0)

_RESPONSES = {
    "excellent": Response.COMPLETE,
    "indeterminate": Response.NOT_EVALUABLE,
    "biochemical_incomplete": Response.STABLE,
    "structural_incomplete": Response.PROGRESSION,
}


class AtaAssessment(Measurements):
    """One thyroid response assessment. `tg_ng_ml` is measured on TSH suppression, or after
    TSH stimulation when `tg_stimulated` is True; always with Tg antibodies, same assay."""

    system: Literal["ata"] = "ata"
    imaging: Literal["negative", "nonspecific", "structural"]
    tg_ng_ml: float = Field(ge=0)
    tg_stimulated: bool = False
    tg_antibodies: Literal["absent", "stable_or_declining", "rising"]


def evaluate_ata(
    memory: CriteriaMemory, assessment: AtaAssessment
) -> tuple[Evaluation, CriteriaMemory]:
    """Judge one assessment; memory keeps the last category under `category`, which the
    surveillance schedule reads (`ata_category`).

    Excellent -> COMPLETE; biochemical incomplete -> STABLE with `ends_remission`: negative
    imaging with a Tg above the cut-off (or rising Tg antibodies) is persistent or recurrent
    disease found biochemically, so a complete remission ends (Haugen 2016, Table 13, R61-R62);
    structural incomplete -> PROGRESSION; indeterminate -> NOT_EVALUABLE.
    """
    label, reason = _category(assessment)
    depth = DEPTH_COMPLETE if label == "excellent" else None
    evaluation = judged(
        SYSTEM,
        label,
        _RESPONSES[label],
        reason,
        metric=assessment.tg_ng_ml,
        depth=depth,
        ends_remission=label == "biochemical_incomplete",
    )
    return evaluation, memory.with_values(category=label)


def ata_category(memory: CriteriaMemory) -> str | None:
    """The last ATA response-to-therapy category in `memory`, or None before the first."""
    category = memory.get("category")
    return category if isinstance(category, str) else None


def _category(a: AtaAssessment) -> tuple[str, str]:
    """The ATA label, checked in the order structural, biochemical, excellent, indeterminate."""
    excellent_below, incomplete_from = STIMULATED_TG if a.tg_stimulated else SUPPRESSED_TG
    tg = f"{'stimulated' if a.tg_stimulated else 'suppressed'} Tg {a.tg_ng_ml:g} ng/mL"
    if a.imaging == "structural":
        return "structural_incomplete", "structural disease on imaging"
    if a.imaging == "negative" and a.tg_antibodies == "rising":
        return "biochemical_incomplete", "negative imaging, rising Tg antibodies"
    if a.imaging == "negative" and at_least(a.tg_ng_ml, incomplete_from):
        return "biochemical_incomplete", f"negative imaging, {tg} >= {incomplete_from:g}"
    low = not at_least(a.tg_ng_ml, excellent_below)
    if a.imaging == "negative" and low and a.tg_antibodies == "absent":
        return "excellent", f"negative imaging, {tg} < {excellent_below:g}, no Tg antibodies"
    return "indeterminate", f"{a.imaging} imaging, {tg}, Tg antibodies {a.tg_antibodies}"
