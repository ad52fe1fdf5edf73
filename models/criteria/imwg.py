"""IMWG 2016 myeloma response (Kumar et al., Lancet Oncol 2016): serum M-protein vs baseline and
nadir, immunofixation, marrow plasma cells, plasmacytomas and the free light chain ratio.

Memory keys: `baseline`, `nadir` (serum M-protein, g/dL) and `previous` (the last category).
Every IMWG category, progression included, needs two consecutive assessments: the fold applies
that rule (`models.criteria.confirmation.RULES["imwg"]`); `detail` says whether this
assessment repeats the previous category.
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
from models.criteria.burden import Burden, recall
from models.criteria.thresholds import at_least, percent_change

SYSTEM = "imwg"
CR_MAX_PLASMA_CELLS_PCT = 5.0  # CR needs fewer than this in marrow
VGPR_DECREASE_PCT = 90.0  # serum M-protein, from baseline
PR_DECREASE_PCT = 50.0  # serum M-protein, from baseline
# Minimal response (Kumar 2016, IMWG table): serum M-protein down >= 25% but <= 49%. It is a
# response category of its own, not a partial remission: on the common ladder it is STABLE.
MR_DECREASE_PCT = 25.0
PD_INCREASE_PCT = 25.0  # serum M-protein, from nadir ...
PD_INCREASE_G_DL = 0.5  # ... and at least this much in absolute terms
# ... or, when the lowest M component was >= 5 g/dL, an increase of >= 1 g/dL suffices
# (Kumar 2016, progressive disease).
HIGH_NADIR_G_DL = 5.0
HIGH_NADIR_INCREASE_G_DL = 1.0

_RESPONSES = {
    "sCR": Response.COMPLETE,
    "CR": Response.COMPLETE,
    "VGPR": Response.PARTIAL,
    "PR": Response.PARTIAL,
    "MR": Response.STABLE,
    "relapse_from_CR": Response.PROGRESSION,
    "SD": Response.STABLE,
    "PD": Response.PROGRESSION,
}
_DEPTHS = {"sCR": DEPTH_COMPLETE, "CR": DEPTH_COMPLETE, "VGPR": DEPTH_PARTIAL, "PR": DEPTH_PARTIAL}

Immunofixation = Literal["negative", "positive"]


class ImwgAssessment(Measurements):
    """One myeloma response assessment. The first one (or `baseline=True`) is the baseline.

    `marrow_plasma_cells_pct` may be None when no marrow was taken; CR then cannot be called.
    `flc_ratio_normal` None means not measured, so sCR cannot be called.
    """

    system: Literal["imwg"] = "imwg"
    serum_immunofixation: Immunofixation
    urine_immunofixation: Immunofixation
    marrow_plasma_cells_pct: float | None = Field(default=None, ge=0, le=100)
    plasmacytomas: bool = False
    serum_m_protein_g_dl: float = Field(ge=0)
    flc_ratio_normal: bool | None = None
    baseline: bool = False


def evaluate_imwg(
    memory: CriteriaMemory, assessment: ImwgAssessment
) -> tuple[Evaluation, CriteriaMemory]:
    """Judge one assessment. Every category except baseline has needs_confirmation=True, and
    `detail` says whether this assessment confirms the previous one (same category twice)."""
    m_protein = assessment.serum_m_protein_g_dl
    burden = recall(memory)
    if assessment.baseline or burden is None:
        fresh = CriteriaMemory().with_values(baseline=m_protein, nadir=m_protein, previous=None)
        detail = f"baseline serum M-protein {m_protein:g} g/dL"
        return judged(SYSTEM, "baseline", Response.NOT_EVALUABLE, detail, metric=m_protein), fresh
    label, reason = _category(assessment, burden)
    if label not in ("PD", "sCR", "CR") and memory.get("after_cr") is not None:
        reappeared = _reappeared(assessment)
        if reappeared is not None:
            label, reason = "relapse_from_CR", reappeared
    previous = memory.get("previous")
    if previous == label:
        reason += f"; confirms the previous {label}"
    else:
        reason += f"; needs a second consecutive {label} (previous: {previous or 'none'})"
    after_cr = 1.0 if label in ("sCR", "CR") else memory.get("after_cr")
    if _RESPONSES[label] is Response.PROGRESSION:
        after_cr = None
    memory = memory.with_values(
        nadir=min(burden.nadir, m_protein), previous=label, after_cr=after_cr
    )
    evaluation = judged(
        SYSTEM,
        label,
        _RESPONSES[label],
        reason,
        metric=m_protein,
        depth=_DEPTHS.get(label),
        needs_confirmation=True,
    )
    return evaluation, memory


def _category(a: ImwgAssessment, burden: Burden) -> tuple[str, str]:
    """The IMWG label, checked in the order PD, sCR, CR, VGPR, PR, SD."""
    m_protein = a.serum_m_protein_g_dl
    rise = m_protein - burden.nadir
    growth = percent_change(m_protein, burden.nadir)
    if at_least(growth, PD_INCREASE_PCT) and at_least(rise, PD_INCREASE_G_DL):
        return "PD", f"M-protein {m_protein:g} g/dL is {rise:g} g/dL ({growth:.1f}%) above nadir"
    if at_least(burden.nadir, HIGH_NADIR_G_DL) and at_least(rise, HIGH_NADIR_INCREASE_G_DL):
        return "PD", (
            f"M-protein {m_protein:g} g/dL is {rise:g} g/dL above a nadir of "
            f"{burden.nadir:g} g/dL (>= 1 g/dL when the nadir is >= 5 g/dL)"
        )
    if _complete(a):
        if a.flc_ratio_normal:
            return "sCR", "CR with a normal free light chain ratio"
        return "CR", "negative serum and urine immunofixation, no plasmacytomas, marrow < 5%"
    decrease = -percent_change(m_protein, burden.baseline)
    if at_least(decrease, VGPR_DECREASE_PCT):
        return "VGPR", f"M-protein {decrease:.1f}% below baseline"
    if at_least(decrease, PR_DECREASE_PCT):
        return "PR", f"M-protein {decrease:.1f}% below baseline"
    if at_least(decrease, MR_DECREASE_PCT):
        return "MR", f"M-protein {decrease:.1f}% below baseline (minimal response)"
    return "SD", f"M-protein {decrease:.1f}% below baseline"


def _reappeared(a: ImwgAssessment) -> str | None:
    """Relapse from CR (Kumar 2016, IMWG): after a CR, M-protein back on immunofixation, marrow
    plasma cells >= 5%, or plasmacytomas. Like every IMWG category it needs a second
    consecutive assessment (the fold's rule)."""
    if a.serum_immunofixation == "positive" or a.urine_immunofixation == "positive":
        return "relapse from CR: M-protein back on immunofixation"
    cells = a.marrow_plasma_cells_pct
    if cells is not None and not cells < CR_MAX_PLASMA_CELLS_PCT:
        return f"relapse from CR: marrow plasma cells {cells:g}% (>= 5%)"
    if a.plasmacytomas:
        return "relapse from CR: plasmacytoma"
    return None


def _complete(a: ImwgAssessment) -> bool:
    cells = a.marrow_plasma_cells_pct
    return (
        a.serum_immunofixation == "negative"
        and a.urine_immunofixation == "negative"
        and not a.plasmacytomas
        and cells is not None
        and cells < CR_MAX_PLASMA_CELLS_PCT
    )
