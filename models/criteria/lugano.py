"""Lugano 2014 (Cheson et al., J Clin Oncol 2014): PET by the Deauville 5-point scale, and CT by
the sum of products of up to 6 nodes.

Memory keys: those of `burden.py` for the CT sum, plus each node's smallest product so far
(`node:<id>`, mm²) and its diameters there (`ldi:<id>`, `sdi:<id>`), for the per-node
progression rule.
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
    baseline_evaluation,
    lesion_nadir,
    recall,
    remember,
    same_lesions,
    start,
    with_lesion_nadirs,
)
from models.criteria.thresholds import at_least, exceeds, percent_change

SYSTEM = "lugano"
MAX_NODES = 6
CT_PR_DECREASE_PCT = 50.0  # sum of products, from baseline
# CT progression of one node (Cheson 2014, Table 3, "PPD progression"): abnormal (LDi > 1.5 cm)
# AND its product >= 50% above its own nadir AND its LDi or SDi up from nadir by >= 0.5 cm for
# a lesion <= 2 cm, >= 1.0 cm for one > 2 cm (the size at nadir decides).
CT_PD_NODE_INCREASE_PCT = 50.0
CT_ABNORMAL_NODE_MM = 15.0
CT_SMALL_NODE_MM = 20.0
CT_SMALL_NODE_GROWTH_MM = 5.0
CT_LARGE_NODE_GROWTH_MM = 10.0
CT_NORMAL_NODE_MM = 15.0  # CT complete response: every node's longest diameter <= 15 mm

_RESPONSES = {
    "CMR": Response.COMPLETE,
    "PMR": Response.PARTIAL,
    "NMR": Response.STABLE,
    "PMD": Response.PROGRESSION,
    "CR": Response.COMPLETE,
    "PR": Response.PARTIAL,
    "SD": Response.STABLE,
    "PD": Response.PROGRESSION,
}
_DEPTHS = {
    "CMR": DEPTH_IMAGING_CR,
    "CR": DEPTH_IMAGING_CR,
    "PMR": DEPTH_PARTIAL,
    "PR": DEPTH_PARTIAL,
}


class LuganoAssessment(Measurements):
    """One Lugano time point: a PET part (Deauville score), a CT part (nodes), or both.

    `uptake_vs_baseline` is the reader's comparison with the baseline PET, needed only for
    Deauville 4-5. `fdg_avid_marrow` is residual FDG-avid marrow disease; new marrow foci go in
    `new_fdg_avid_foci`. The first assessment with nodes (or `baseline=True`) is the CT baseline.
    """

    system: Literal["lugano"] = "lugano"
    deauville: int | None = Field(default=None, ge=1, le=5)
    uptake_vs_baseline: Literal["reduced", "unchanged", "increased"] | None = None
    new_fdg_avid_foci: bool = False
    fdg_avid_marrow: bool = False
    nodes: tuple[BidimensionalLesion, ...] | None = Field(
        default=None, min_length=1, max_length=MAX_NODES
    )
    new_ct_lesions: bool = False
    baseline: bool = False

    @model_validator(mode="after")
    def _has_a_part(self) -> Self:
        if self.deauville is None and self.nodes is None:
            raise ValueError("a Lugano assessment needs a Deauville score, CT nodes, or both")
        if self.nodes and len({n.lesion_id for n in self.nodes}) != len(self.nodes):
            raise ValueError("node ids must be unique")
        return self


def evaluate_lugano(
    memory: CriteriaMemory, assessment: LuganoAssessment
) -> tuple[Evaluation, CriteriaMemory]:
    """Judge one time point. PET decides when present; a CT progression overrides a PET
    category short of progression. `metric` is the CT sum of products (mm²) when nodes exist."""
    nodes = assessment.nodes
    if nodes is not None and (assessment.baseline or recall(memory) is None):
        total = sum(n.product_mm2 for n in nodes)
        fresh = start(total, (n.lesion_id for n in nodes))
        return baseline_evaluation(SYSTEM, total, "mm²"), with_lesion_nadirs(fresh, nodes)
    if assessment.baseline:
        detail = "baseline PET; later Deauville scores are compared with it"
        return judged(SYSTEM, "baseline", Response.NOT_EVALUABLE, detail), memory
    ct, metric = None, None
    if nodes is not None:
        if not same_lesions(memory, (n.lesion_id for n in nodes)):
            detail = "nodes differ from the baseline set; every node must be re-measured"
            return not_evaluable(SYSTEM, detail), memory
        ct, metric = _ct_category(assessment, nodes, memory), sum(n.product_mm2 for n in nodes)
        memory = with_lesion_nadirs(remember(memory, metric), nodes, memory)
    pet = _pet_category(assessment) if assessment.deauville is not None else None
    label, reason = _combine(pet, ct)
    if label is None:
        return not_evaluable(SYSTEM, reason, metric), memory
    depth = _DEPTHS.get(label)
    return judged(SYSTEM, label, _RESPONSES[label], reason, metric=metric, depth=depth), memory


def _combine(
    pet: tuple[str | None, str] | None, ct: tuple[str, str] | None
) -> tuple[str | None, str]:
    """PET decides, except that a CT progression overrides a PET category short of PMD and CT
    stands in when PET is missing or cannot be judged."""
    if ct is not None and ct[0] == "PD" and (pet is None or pet[0] != "PMD"):
        return ct
    if pet is not None and (pet[0] is not None or ct is None):
        return pet
    assert ct is not None  # the model requires a PET or a CT part
    return ct


def _pet_category(a: LuganoAssessment) -> tuple[str | None, str]:
    """The metabolic label; None when Deauville 4-5 lacks a comparison with baseline."""
    score = a.deauville
    if a.new_fdg_avid_foci:
        return "PMD", "new FDG-avid foci"
    if score is not None and score <= 3:
        if a.fdg_avid_marrow:
            return "PMR", f"Deauville {score} but residual FDG-avid marrow disease"
        return "CMR", f"Deauville {score}, no FDG-avid marrow disease"
    labels = {"reduced": "PMR", "unchanged": "NMR", "increased": "PMD"}
    if a.uptake_vs_baseline is None:
        return None, f"Deauville {score} needs uptake compared with baseline"
    return labels[a.uptake_vs_baseline], f"Deauville {score}, uptake {a.uptake_vs_baseline}"


def _ct_category(
    a: LuganoAssessment, nodes: tuple[BidimensionalLesion, ...], memory: CriteriaMemory
) -> tuple[str, str]:
    """The CT label, checked in the order PD, CR, PR, SD."""
    if a.new_ct_lesions:
        return "PD", "new lesion on CT"
    for node in nodes:
        if reason := _node_progressed(node, memory):
            return "PD", reason
    if all(not exceeds(n.longest_mm, CT_NORMAL_NODE_MM) for n in nodes):
        return "CR", "every node <= 15 mm longest diameter"
    burden = recall(memory)
    baseline = burden.baseline if burden else 0.0
    decrease = -percent_change(sum(n.product_mm2 for n in nodes), baseline)
    if at_least(decrease, CT_PR_DECREASE_PCT):
        return "PR", f"sum of products {decrease:.1f}% below baseline"
    return "SD", f"sum of products {decrease:.1f}% below baseline"


def _node_progressed(node: BidimensionalLesion, memory: CriteriaMemory) -> str | None:
    """Why `node` meets the CT PPD progression rule (Cheson 2014, Table 3), or None."""
    nadir = lesion_nadir(memory, node.lesion_id)
    product, ldi, sdi = nadir if nadir is not None else (0.0, 0.0, 0.0)
    growth = percent_change(node.product_mm2, product)
    if not exceeds(node.longest_mm, CT_ABNORMAL_NODE_MM):
        return None
    if not at_least(growth, CT_PD_NODE_INCREASE_PCT):
        return None
    small = not exceeds(ldi, CT_SMALL_NODE_MM)
    needed = CT_SMALL_NODE_GROWTH_MM if small else CT_LARGE_NODE_GROWTH_MM
    grew = max(node.longest_mm - ldi, node.perpendicular_mm - sdi)
    if not at_least(grew, needed):
        return None
    return (
        f"node {node.lesion_id} LDi {node.longest_mm:g} mm > 15, product {growth:.1f}% above "
        f"its nadir, and +{grew:g} mm in LDi or SDi (>= {needed:g} for a node "
        f"{'<=' if small else '>'} 20 mm at nadir)"
    )
