"""iRECIST (Seymour et al., Lancet Oncol 2017): a RECIST progression under immunotherapy is
unconfirmed (iUPD) until a later assessment 4-8 weeks on shows further growth (iCPD).

Memory keys: `iupd_on` (ISO date of the pending iUPD) and `iupd_sum` (its target sum, mm).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from models.criteria.base import CriteriaMemory, Evaluation, Response
from models.criteria.thresholds import at_least

CONFIRM_FROM_DAYS = 28  # 4 weeks after the iUPD
CONFIRM_UNTIL_DAYS = 56  # 8 weeks after the iUPD
FURTHER_GROWTH_MM = 5.0  # growth of the target sum beyond the iUPD sum that confirms


def immune_step(
    memory: CriteriaMemory, recist: Evaluation, assessed_on: date, new_lesions: bool
) -> tuple[Evaluation, CriteriaMemory]:
    """Turn a RECIST evaluation into its iRECIST counterpart (iCR, iPR, iSD, iUPD, iCPD).

    iUPD is reported as STABLE with needs_confirmation=True: it is not progression until
    confirmed, and it ends any complete or partial response. A pending iUPD is confirmed (iCPD,
    PROGRESSION) when an assessment 28-56 days later shows the target sum >= 5 mm above the iUPD
    sum or new lesions (any new lesion counts: the boolean cannot tell further new lesions from
    the ones that caused the iUPD). A still-progressed assessment before day 28 leaves it
    pending; anything else resets it and the time point is judged afresh, so a response gives
    iCR/iPR/iSD and a progression after the window opens a new iUPD anchored at this date.
    """
    pending_on, pending_sum = memory.get("iupd_on"), memory.get("iupd_sum")
    if isinstance(pending_on, str) and isinstance(pending_sum, float):
        days = (assessed_on - date.fromisoformat(pending_on)).days
        total = recist.metric or 0.0
        grew = new_lesions or at_least(total - pending_sum, FURTHER_GROWTH_MM)
        if grew and CONFIRM_FROM_DAYS <= days <= CONFIRM_UNTIL_DAYS:
            detail = f"confirms iUPD of {pending_on} after {days} days: "
            detail += "new lesions" if new_lesions else f"sum {total:g} mm vs {pending_sum:g} mm"
            cleared = memory.with_values(iupd_on=None, iupd_sum=None)
            confirmed = replace(recist, category="iCPD", response=Response.PROGRESSION)
            return replace(confirmed, detail=detail, needs_confirmation=False), cleared
        if days < CONFIRM_FROM_DAYS and recist.response is Response.PROGRESSION:
            detail = f"iUPD of {pending_on} unconfirmed: {days} days on, confirmation needs 28-56"
            return _unconfirmed(recist, detail), memory
        memory = memory.with_values(iupd_on=None, iupd_sum=None)
    if recist.response is Response.PROGRESSION:
        detail = f"{recist.detail}; unconfirmed until a growing assessment 4-8 weeks on"
        anchored = memory.with_values(iupd_on=assessed_on.isoformat(), iupd_sum=recist.metric)
        return _unconfirmed(recist, detail), anchored
    return replace(recist, category=f"i{recist.category}"), memory


def _unconfirmed(recist: Evaluation, detail: str) -> Evaluation:
    return replace(
        recist,
        category="iUPD",
        response=Response.STABLE,
        needs_confirmation=True,
        depth=None,
        detail=detail,
    )
