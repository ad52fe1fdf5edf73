"""RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009): target diameters vs baseline and nadir.

With `immune=True` a progression is handed to iRECIST (see `irecist.py`), which needs the new
lesions' own measurements (`new_lesion_targets`, `new_non_target`) to confirm it.

Memory keys: those of `burden.py`, plus `after_cr` (1.0 once a CR has been documented since the
baseline): after a CR any reappearing disease is progression (Table 3 footnote).
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Annotated, Literal, Self

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
    LesionId,
    NonTarget,
    baseline_evaluation,
    recall,
    remember,
    same_lesions,
    start,
)
from models.criteria.irecist import immune_step
from models.criteria.thresholds import at_least, percent_change

SYSTEM = "recist"
MAX_TARGETS = 5  # §4.2 (Eisenhauer 2009): at most 5 target lesions ...
MAX_PER_ORGAN = 2  # ... and 2 per organ
MAX_NEW_TARGETS = 5  # iRECIST (Seymour 2017, Table 1): new lesions, up to 5 measured, 2 per organ
# §4.2 and the EORTC RECIST 1.1 FAQ: "lymph nodes are considered one organ", whatever their
# region, and paired organs (lungs, kidneys, ...) count as one organ.
NODES_ORGAN = "lymph nodes"
_PAIRED = {
    "lung": "lungs",
    "lungs": "lungs",
    "kidney": "kidneys",
    "kidneys": "kidneys",
    "adrenal": "adrenal glands",
    "adrenal gland": "adrenal glands",
    "adrenals": "adrenal glands",
    "adrenal glands": "adrenal glands",
    "ovary": "ovaries",
    "ovaries": "ovaries",
    "breast": "breasts",
    "breasts": "breasts",
    "testis": "testes",
    "testes": "testes",
    "pleura": "pleura",
    "pleural": "pleura",
    "eye": "eyes",
    "eyes": "eyes",
}
_SIDES = ("left ", "right ", "bilateral ")
MIN_LESION_MM = 10.0  # measurable non-node lesion, longest diameter
MIN_NODE_MM = 15.0  # measurable (target) node, short axis
NORMAL_NODE_MM = 10.0  # a node below this short axis is normal: counts as gone for CR
PR_DECREASE_PCT = 30.0  # from baseline
PD_INCREASE_PCT = 20.0  # from nadir ...
PD_INCREASE_MM = 5.0  # ... and at least this much in absolute terms

_RESPONSES = {
    "CR": Response.COMPLETE,
    "PR": Response.PARTIAL,
    "SD": Response.STABLE,
    "PD": Response.PROGRESSION,
}
_DEPTHS = {"CR": DEPTH_IMAGING_CR, "PR": DEPTH_PARTIAL}


class TargetLesion(Measurements):
    """One target lesion: longest diameter in mm, or the short axis in mm for a lymph node."""

    lesion_id: LesionId
    organ: Annotated[str, Field(min_length=1, max_length=64)]
    is_node: bool
    diameter_mm: float = Field(ge=0)

    @property
    def gone(self) -> bool:
        """Counts as disappeared for CR: 0 mm, or a node back under 10 mm short axis."""
        return self.diameter_mm < NORMAL_NODE_MM if self.is_node else self.diameter_mm == 0


def organ_of(lesion: TargetLesion) -> str:
    """The organ a target counts against for the 2-per-organ limit: every lymph node is one
    organ ("lymph nodes"), and a paired organ is one organ whatever the side (EORTC RECIST 1.1
    FAQ; Eisenhauer 2009 §4.2)."""
    if lesion.is_node:
        return NODES_ORGAN
    organ = " ".join(lesion.organ.casefold().split())
    for side in _SIDES:
        if organ.startswith(side):
            organ = organ[len(side) :]
            break
    return _PAIRED.get(organ, organ)


def _per_organ_problem(lesions: tuple[TargetLesion, ...], what: str) -> str | None:
    organs = Counter(organ_of(t) for t in lesions)
    for organ, count in sorted(organs.items()):
        if count > MAX_PER_ORGAN:
            why = (
                "lymph nodes, whatever the region, are one organ"
                if organ == NODES_ORGAN
                else "paired organs count as one organ"
            )
            return (
                f"{count} {what} in {organ}: at most {MAX_PER_ORGAN} per organ ({why}; RECIST "
                "1.1 section 4.2, EORTC RECIST FAQ)"
            )
    return None


class RecistAssessment(Measurements):
    """One RECIST 1.1 time point.

    Invariants: at most 5 targets, at most 2 per organ (case-insensitive), unique lesion ids.
    `baseline=True` declares a (new) baseline and requires measurable targets (non-node >= 10
    mm, node >= 15 mm short axis); an undeclared first assessment is also taken as baseline, and
    is reported not evaluable if unmeasurable. `assessed_on` is required only with `immune=True`,
    because only iRECIST's 4-8 week confirmation window depends on dates.
    """

    system: Literal["recist"] = "recist"
    targets: tuple[TargetLesion, ...] = Field(default=(), max_length=MAX_TARGETS)
    new_lesions: bool = False
    non_target: NonTarget = "absent"
    baseline: bool = False
    immune: bool = False
    assessed_on: date | None = None
    # iRECIST (Seymour 2017): new lesions measured as "new lesion - target" (up to 5, 2 per
    # organ) and the rest as "new lesion - non-target"; either implies new_lesions=True.
    new_lesion_targets: tuple[TargetLesion, ...] = Field(
        default=(),
        max_length=MAX_NEW_TARGETS,
        description="Wire revision 1.1 (additive, optional; schema_version stays 1): the new "
        "lesions measured as iRECIST 'new lesion - target' (up to 5, 2 per organ).",
    )
    new_non_target: NonTarget = Field(
        default="absent",
        description="Wire revision 1.1 (additive, optional): the new lesions not measured "
        "(iRECIST 'new lesion - non-target'): absent, present or unequivocal_progression.",
    )

    @model_validator(mode="after")
    def _valid_time_point(self) -> Self:
        if problem := _per_organ_problem(self.targets, "target lesions"):
            raise ValueError(problem)
        if problem := _per_organ_problem(self.new_lesion_targets, "new target lesions"):
            raise ValueError(problem)
        if len({t.lesion_id for t in self.targets}) != len(self.targets):
            raise ValueError("target lesion ids must be unique")
        if len({t.lesion_id for t in self.new_lesion_targets}) != len(self.new_lesion_targets):
            raise ValueError("new lesion ids must be unique")
        has_new = bool(self.new_lesion_targets) or self.new_non_target != "absent"
        if has_new and not self.new_lesions:
            raise ValueError("new_lesion_targets or new_non_target given: set new_lesions")
        if self.baseline and (problem := baseline_problem(self.targets)):
            raise ValueError(problem)
        if self.immune and self.assessed_on is None:
            raise ValueError("iRECIST (immune=True) needs assessed_on")
        return self

    @property
    def sum_mm(self) -> float:
        """Sum of target diameters in mm (long axis, short axis for nodes)."""
        return sum(t.diameter_mm for t in self.targets)


def baseline_problem(targets: tuple[TargetLesion, ...]) -> str | None:
    """Why `targets` cannot serve as a RECIST baseline, or None if they can."""
    if not targets:
        return "a baseline needs at least one measurable target lesion"
    for t in targets:
        minimum = MIN_NODE_MM if t.is_node else MIN_LESION_MM
        if t.diameter_mm < minimum:
            return f"target {t.lesion_id} is {t.diameter_mm:g} mm, below {minimum:g} mm"
    return None


def evaluate_recist(
    memory: CriteriaMemory, assessment: RecistAssessment
) -> tuple[Evaluation, CriteriaMemory]:
    """Judge one time point against the remembered baseline (for PR) and nadir (for PD), in mm."""
    burden = recall(memory)
    total = assessment.sum_mm
    if assessment.baseline or burden is None:
        if problem := baseline_problem(assessment.targets):
            return not_evaluable(SYSTEM, f"not a valid baseline: {problem}", total), memory
        ids = (t.lesion_id for t in assessment.targets)
        return baseline_evaluation(SYSTEM, total, "mm"), start(total, ids)
    overt = _overt_progression(assessment)
    if overt is None and not same_lesions(memory, (t.lesion_id for t in assessment.targets)):
        detail = "target lesions differ from the baseline set; every target must be re-measured"
        return not_evaluable(SYSTEM, detail, total), memory
    if overt is None and memory.get("after_cr") is not None:
        overt = _reappeared(assessment)
    if overt is None:
        label, reason = _category(assessment, total, burden.baseline, burden.nadir)
        memory = remember(memory, total)
        if label == "CR":
            memory = memory.with_values(after_cr=1.0)
    else:
        label, reason = "PD", overt
    evaluation = judged(
        SYSTEM, label, _RESPONSES[label], reason, metric=total, depth=_DEPTHS.get(label)
    )
    if assessment.immune and assessment.assessed_on is not None:
        return immune_step(memory, evaluation, assessment)
    return evaluation, memory


def _reappeared(a: RecistAssessment) -> str | None:
    """After a CR, any disease seen again is progression, even if small or below the 20%/5 mm
    rule (Eisenhauer 2009, Table 3 footnote; EORTC RECIST FAQ): a non-nodal target measurable
    again, a node back to >= 10 mm short axis, or non-target disease present again."""
    back = [t.lesion_id for t in a.targets if not t.gone]
    if back:
        return f"disease reappeared after CR: target {', '.join(back)}"
    if a.non_target != "absent":
        return "non-target disease reappeared after CR"
    return None


def _overt_progression(a: RecistAssessment) -> str | None:
    """Progression that needs no measurement: a new lesion or unequivocal non-target growth."""
    if a.new_lesions:
        return "new lesion"
    if a.non_target == "unequivocal_progression":
        return "unequivocal progression of non-target disease"
    return None


def _category(a: RecistAssessment, total: float, baseline: float, nadir: float) -> tuple[str, str]:
    """The RECIST label for measured targets summing to `total` mm, checked in the order PD,
    CR, PR, SD."""
    growth = percent_change(total, nadir)
    if at_least(growth, PD_INCREASE_PCT) and at_least(total - nadir, PD_INCREASE_MM):
        return "PD", f"sum {total:g} mm is {growth:.1f}% and {total - nadir:g} mm above nadir"
    targets_gone = all(t.gone for t in a.targets)
    if targets_gone and a.non_target == "absent":
        return "CR", "all targets gone (nodes < 10 mm short axis), no non-target disease"
    decrease = -percent_change(total, baseline)
    if targets_gone or at_least(decrease, PR_DECREASE_PCT):
        return "PR", f"sum {total:g} mm is {decrease:.1f}% below baseline {baseline:g} mm"
    return "SD", f"sum {total:g} mm: {decrease:.1f}% below baseline, {growth:.1f}% above nadir"
