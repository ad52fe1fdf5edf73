"""WHO criteria (Miller et al., Cancer 1981): summed bidimensional products vs baseline/nadir,
and each lesion against its own smallest size.

Memory keys: those of `burden.py`, plus each lesion's nadir (`node:<id>`, `ldi:<id>`, `sdi:<id>`).
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from models.criteria.base import (
    DEPTH_IMAGING_CR,
    DEPTH_PARTIAL,
    CriteriaMemory,
    Evaluation,
    Measurements,
    Response,
    judged,
    not_evaluable,
)
from models.criteria.burden import (
    BidimensionalLesion,
    NonTarget,
    baseline_evaluation,
    recall,
    remember,
    same_lesions,
    start,
    with_lesion_nadirs,
)
from models.criteria.thresholds import at_least, percent_change

SYSTEM = "who"
PR_DECREASE_PCT = 50.0  # from baseline
# PD: an increase of >= 25% in the size (product) of one or more measurable lesions, or new
# lesions (Miller 1981; as tabulated in Wahl 2009, J Nucl Med 50:122S, Table 3). Each lesion
# is compared with its own smallest product; WHO sets no absolute minimum.
PD_INCREASE_PCT = 25.0

_RESPONSES = {
    "CR": Response.COMPLETE,
    "PR": Response.PARTIAL,
    "SD": Response.STABLE,
    "PD": Response.PROGRESSION,
}
_DEPTHS = {"CR": DEPTH_IMAGING_CR, "PR": DEPTH_PARTIAL}


class WhoAssessment(Measurements):
    """One WHO time point: measured lesions (two diameters each, mm) and other disease.

    `baseline=True` declares a (new) baseline, which needs at least one lesion with a non-zero
    product; an undeclared first assessment is also the baseline. Lesion ids are unique.
    """

    system: Literal["who"] = "who"
    lesions: tuple[BidimensionalLesion, ...] = Field(default=())
    new_lesions: bool = False
    non_target: NonTarget = "absent"
    baseline: bool = False

    @model_validator(mode="after")
    def _valid_time_point(self) -> Self:
        if len({x.lesion_id for x in self.lesions}) != len(self.lesions):
            raise ValueError("lesion ids must be unique")
        if self.baseline and self.sum_mm2 == 0:
            raise ValueError("a baseline needs at least one measurable lesion")
        return self

    @property
    def sum_mm2(self) -> float:
        """Sum of the lesions' bidimensional products, in mm²."""
        return sum(x.product_mm2 for x in self.lesions)


def evaluate_who(
    memory: CriteriaMemory, assessment: WhoAssessment
) -> tuple[Evaluation, CriteriaMemory]:
    """Judge one time point: PR >= 50% below baseline (sum of products, mm²), PD when any lesion
    is >= 25% above its own nadir or new lesions appear."""
    burden = recall(memory)
    total = assessment.sum_mm2
    ids = [x.lesion_id for x in assessment.lesions]
    if assessment.baseline or burden is None:
        if total == 0:
            return not_evaluable(SYSTEM, "not a valid baseline: no measurable lesion"), memory
        fresh = with_lesion_nadirs(start(total, ids), assessment.lesions)
        return baseline_evaluation(SYSTEM, total, "mm²"), fresh
    if assessment.new_lesions:
        label, reason = "PD", "new lesion"
    elif assessment.non_target == "unequivocal_progression":
        label, reason = "PD", "unequivocal progression of non-measurable disease"
    elif not same_lesions(memory, ids):
        detail = "lesions differ from the baseline set; every lesion must be re-measured"
        return not_evaluable(SYSTEM, detail, total), memory
    else:
        label, reason = _category(assessment, burden.baseline, memory)
        memory = with_lesion_nadirs(remember(memory, total), assessment.lesions, memory)
    depth = _DEPTHS.get(label)
    return judged(SYSTEM, label, _RESPONSES[label], reason, metric=total, depth=depth), memory


def _category(a: WhoAssessment, baseline: float, memory: CriteriaMemory) -> tuple[str, str]:
    """The WHO label for measured lesions, checked in the order PD, CR, PR, SD. PD is any one
    lesion >= 25% above its own nadir product (a lesion that had gone and is back grows
    without bound), whatever the sum does."""
    total = a.sum_mm2
    for lesion in a.lesions:
        remembered = memory.get(f"node:{lesion.lesion_id}")
        nadir = remembered if isinstance(remembered, float) else 0.0
        growth = percent_change(lesion.product_mm2, nadir)
        if at_least(growth, PD_INCREASE_PCT):
            return "PD", (
                f"lesion {lesion.lesion_id} {lesion.product_mm2:g} mm² is {growth:.1f}% above "
                f"its nadir {nadir:g} mm²"
            )
    gone = all(x.longest_mm == 0 for x in a.lesions)
    if gone and a.non_target == "absent":
        return "CR", "all known disease gone"
    decrease = -percent_change(total, baseline)
    if gone or at_least(decrease, PR_DECREASE_PCT):
        return "PR", f"sum of products {total:g} mm² is {decrease:.1f}% below baseline"
    return "SD", f"sum of products {total:g} mm²: {decrease:.1f}% below baseline"
