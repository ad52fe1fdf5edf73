"""iRECIST (Seymour et al., Lancet Oncol 2017): a RECIST progression under immunotherapy is
unconfirmed (iUPD) until a later assessment 4-8 weeks on shows further progression (iCPD).

Memory keys, all about the pending iUPD: `iupd_on` (ISO date), `iupd_sum` (target sum, mm),
`iupd_nt` (non-target state), `iupd_new_sum` (sum of the new-lesion targets, mm), `iupd_new_ids`
(their ids joined by "|") and `iupd_new_nt` (new non-target state).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING

from models.criteria.base import CriteriaMemory, Evaluation, Response
from models.criteria.thresholds import at_least

if TYPE_CHECKING:
    from models.criteria.recist import RecistAssessment

CONFIRM_FROM_DAYS = 28  # 4 weeks after the iUPD
CONFIRM_UNTIL_DAYS = 56  # 8 weeks after the iUPD
FURTHER_GROWTH_MM = 5.0  # growth of a target sum beyond the iUPD sum that confirms
_CLEARED: dict[str, float | str | None] = {
    "iupd_on": None,
    "iupd_sum": None,
    "iupd_nt": None,
    "iupd_new_sum": None,
    "iupd_new_ids": None,
    "iupd_new_nt": None,
    "iupd_new": None,
}


def immune_step(
    memory: CriteriaMemory, recist: Evaluation, assessment: RecistAssessment
) -> tuple[Evaluation, CriteriaMemory]:
    """Turn a RECIST evaluation into its iRECIST counterpart (iCR, iPR, iSD, iUPD, iCPD).

    iUPD is reported as STABLE with needs_confirmation=True: it is not progression until
    confirmed, and it ends no response by itself. A pending iUPD is confirmed (iCPD,
    PROGRESSION) by an assessment 28-56 days later showing further progression (Seymour 2017,
    Table 2): the target sum >= 5 mm above the iUPD sum, non-target disease newly unequivocal,
    the new-lesion targets' sum >= 5 mm above theirs at iUPD, any growth of new non-target
    lesions, or more new lesions. New lesions reported only as `new_lesions=True`, without
    their measurements, cannot show growth and confirm nothing. A still-progressed assessment
    that does not confirm keeps the iUPD pending with its reference; anything else resets it.
    """
    assessed_on = assessment.assessed_on
    assert assessed_on is not None  # the model requires it with immune=True
    pending_on, pending_sum = memory.get("iupd_on"), memory.get("iupd_sum")
    if isinstance(pending_on, str) and isinstance(pending_sum, float):
        days = (assessed_on - date.fromisoformat(pending_on)).days
        further = _further_progression(memory, assessment, recist.metric or 0.0, pending_sum)
        in_window = CONFIRM_FROM_DAYS <= days <= CONFIRM_UNTIL_DAYS
        if further is not None and in_window:
            detail = f"confirms iUPD of {pending_on} after {days} days: {further}"
            confirmed = replace(recist, category="iCPD", response=Response.PROGRESSION)
            cleared = memory.with_values(**_CLEARED)
            return replace(confirmed, detail=detail, needs_confirmation=False), cleared
        if recist.response is Response.PROGRESSION and days <= CONFIRM_UNTIL_DAYS:
            why = (
                f"{days} days on, confirmation needs 28-56"
                if days < CONFIRM_FROM_DAYS
                else "no further growth and no more new lesions"
            )
            if assessment.new_lesions and not assessment.new_lesion_targets:
                why += " (new lesions sent without measurements cannot show growth)"
            return _unconfirmed(recist, f"iUPD of {pending_on} unconfirmed: {why}"), memory
        memory = memory.with_values(**_CLEARED)
    if recist.response is Response.PROGRESSION:
        detail = f"{recist.detail}; unconfirmed until further progression 4-8 weeks on"
        return _unconfirmed(recist, detail), _anchor(memory, assessment, recist)
    return replace(recist, category=f"i{recist.category}"), memory


def _anchor(memory: CriteriaMemory, a: RecistAssessment, recist: Evaluation) -> CriteriaMemory:
    return memory.with_values(
        iupd_on=a.assessed_on.isoformat() if a.assessed_on else None,
        iupd_sum=recist.metric,
        iupd_nt=a.non_target,
        iupd_new_sum=float(sum(t.diameter_mm for t in a.new_lesion_targets)),
        iupd_new_ids="|".join(sorted(t.lesion_id for t in a.new_lesion_targets)),
        iupd_new_nt=a.new_non_target,
        iupd_new=1.0 if a.new_lesions else None,
    )


def _further_progression(
    memory: CriteriaMemory, a: RecistAssessment, total: float, pending_sum: float
) -> str | None:
    """Why this assessment confirms the pending iUPD (Seymour 2017, Table 2), or None."""
    if at_least(total - pending_sum, FURTHER_GROWTH_MM):
        return f"target sum {total:g} mm vs {pending_sum:g} mm at iUPD"
    if a.non_target == "unequivocal_progression" and memory.get("iupd_nt") != a.non_target:
        return "non-target disease now unequivocally progressing"
    if not a.new_lesions:
        return None
    if memory.get("iupd_new") is None:
        return "new lesions since the iUPD"
    new_sum = sum(t.diameter_mm for t in a.new_lesion_targets)
    before = memory.get("iupd_new_sum")
    before_sum = before if isinstance(before, float) else 0.0
    known_ids = str(memory.get("iupd_new_ids") or "")
    new_nt_before = memory.get("iupd_new_nt")
    if not known_ids and new_nt_before == "absent":
        return None  # new lesions at iUPD were not measured: growth cannot be shown
    if known_ids and at_least(new_sum - before_sum, FURTHER_GROWTH_MM):
        return f"new-lesion target sum {new_sum:g} mm vs {before_sum:g} mm at iUPD"
    known = known_ids.split("|")
    more = sorted(t.lesion_id for t in a.new_lesion_targets if t.lesion_id not in known)
    if more:
        return f"more new lesions: {', '.join(more)}"
    if a.new_non_target == "unequivocal_progression" and new_nt_before != a.new_non_target:
        return "new non-target lesions grew"
    if a.new_non_target != "absent" and new_nt_before == "absent":
        return "more new lesions: new non-target lesions appeared"
    return None


def _unconfirmed(recist: Evaluation, detail: str) -> Evaluation:
    return replace(
        recist,
        category="iUPD",
        response=Response.STABLE,
        needs_confirmation=True,
        depth=None,
        detail=detail,
    )
