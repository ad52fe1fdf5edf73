"""PSA after curative prostate treatment. After prostatectomy: biochemical recurrence at PSA
>= 0.2 ng/mL confirmed by a second such value (AUA, Cookson et al., J Urol 2007). After
radiotherapy: failure at nadir + 2 ng/mL (Phoenix, Roach et al., IJROBP 2006).

Memory keys: `pending_rise` (the unconfirmed first PSA >= 0.2 after prostatectomy) and
`rt_nadir` (the lowest PSA after radiotherapy so far), both ng/mL.
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
from models.criteria.thresholds import at_least

SYSTEM = "psa"
RECURRENCE_NG_ML = 0.2  # after prostatectomy
PHOENIX_RISE_NG_ML = 2.0  # above the nadir, after radiotherapy


class PsaAssessment(Measurements):
    """One PSA value (ng/mL) and the treatment it follows."""

    system: Literal["psa"] = "psa"
    value_ng_ml: float = Field(ge=0)
    setting: Literal["prostatectomy", "radiotherapy"]


def evaluate_psa(
    memory: CriteriaMemory, assessment: PsaAssessment
) -> tuple[Evaluation, CriteriaMemory]:
    """Judge one PSA value in its setting; see `_after_prostatectomy` and `_after_radiotherapy`."""
    if assessment.setting == "prostatectomy":
        return _after_prostatectomy(memory, assessment.value_ng_ml)
    return _after_radiotherapy(memory, assessment.value_ng_ml)


def _after_prostatectomy(memory: CriteriaMemory, psa: float) -> tuple[Evaluation, CriteriaMemory]:
    """< 0.2: "undetectable" COMPLETE (needs confirmation). A first >= 0.2: "rising" STABLE,
    needs confirmation, remembered. A second consecutive >= 0.2: "biochemical_recurrence"."""
    if not at_least(psa, RECURRENCE_NG_ML):
        detail = f"PSA {psa:g} ng/mL < 0.2"
        evaluation = judged(
            SYSTEM, "undetectable", Response.COMPLETE, detail, metric=psa, depth=DEPTH_COMPLETE
        )
        return evaluation, memory.with_values(pending_rise=None)
    first = memory.get("pending_rise")
    if isinstance(first, float):
        detail = f"PSA {psa:g} ng/mL >= 0.2, confirming {first:g} ng/mL"
        evaluation = judged(
            SYSTEM, "biochemical_recurrence", Response.PROGRESSION, detail, metric=psa
        )
        return evaluation, memory.with_values(pending_rise=None)
    detail = f"PSA {psa:g} ng/mL >= 0.2; a second value >= 0.2 confirms recurrence"
    evaluation = judged(
        SYSTEM, "rising", Response.STABLE, detail, metric=psa, needs_confirmation=True
    )
    return evaluation, memory.with_values(pending_rise=psa)


def _after_radiotherapy(memory: CriteriaMemory, psa: float) -> tuple[Evaluation, CriteriaMemory]:
    """PSA >= nadir + 2 ng/mL: "biochemical_failure" PROGRESSION; otherwise "no_biochemical_failure"
    STABLE. Phoenix defines failure only, so no PSA value after radiotherapy is COMPLETE."""
    remembered = memory.get("rt_nadir")
    nadir = min(remembered, psa) if isinstance(remembered, float) else psa
    memory = memory.with_values(rt_nadir=nadir)
    if at_least(psa - nadir, PHOENIX_RISE_NG_ML):
        detail = f"PSA {psa:g} ng/mL >= nadir {nadir:g} + 2"
        return judged(
            SYSTEM, "biochemical_failure", Response.PROGRESSION, detail, metric=psa
        ), memory
    detail = f"PSA {psa:g} ng/mL below nadir {nadir:g} + 2"
    return judged(SYSTEM, "no_biochemical_failure", Response.STABLE, detail, metric=psa), memory
