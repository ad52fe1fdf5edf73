"""What confirms what, per criteria system: a response counts (opens or deepens a numbered
remission episode) only when the system's own confirmation rule is met, and a progression ends
an episode only when the system says it is confirmed. Confirmation is a repeat assessment where
the system asks for one, never the mere passage of time.

`RULES` is the table a clinician reviews (docs/remission.md shows it); `confirm` applies it to
one evaluation given what is still pending for the same system. Times are whole seconds since
the Unix epoch, as in the journal.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

from models.criteria.base import Evaluation, Response, depth_rank

DAY = 86_400


@dataclass(frozen=True, slots=True)
class ConfirmationRule:
    """One system's confirmation rule.

    `response_repeat`: a complete or partial response needs a later assessment of the same
    system that again shows a response, at least `min_days` after the response was first met;
    the confirmed level is the shallower of the two (PR then CR confirms the PR; the CR waits
    for its own repeat). Without it, one assessment is enough. `progression_repeat`: progression
    needs a second consecutive progression (the date of progression is the first one).
    `ranks` orders categories that share a ladder step and depth (IMWG VGPR above PR).
    """

    response_repeat: bool
    min_days: int
    progression_repeat: bool
    rule: str
    source: str
    awaits: str = "nothing: one assessment decides"
    ranks: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


RULES: MappingProxyType[str, ConfirmationRule] = MappingProxyType(
    {
        "recist": ConfirmationRule(
            response_repeat=True,
            min_days=28,
            progression_repeat=False,
            awaits="a repeat assessment showing it at least 4 weeks later",
            rule=(
                "CR and PR are confirmed by a repeat assessment no less than 4 weeks after the "
                "criteria are first met; PR then CR is a confirmed PR until the CR is itself "
                "repeated; CR or PR followed by SD, PD or NE is not confirmed; PD needs no "
                "confirmation (under immunotherapy, iRECIST's iUPD -> iCPD rule applies)"
            ),
            source="Eisenhauer 2009 (RECIST 1.1) section 4.6 and Table 3; Seymour 2017 "
            "(iRECIST) Table 2",
        ),
        "who": ConfirmationRule(
            response_repeat=True,
            min_days=28,
            progression_repeat=False,
            awaits="a second observation at least 4 weeks later",
            rule="CR and PR are determined by two observations not less than 4 weeks apart",
            source="Miller 1981 (WHO), Cancer 47:207, response definitions",
        ),
        "lugano": ConfirmationRule(
            response_repeat=False,
            min_days=0,
            progression_repeat=False,
            rule="one PET-CT (or CT) assessment decides; Lugano sets no confirmatory scan",
            source="Cheson 2014 (Lugano), J Clin Oncol 32:3059, Table 3",
        ),
        "imwg": ConfirmationRule(
            response_repeat=True,
            min_days=0,
            progression_repeat=True,
            awaits="a second consecutive assessment",
            rule=(
                "every category, progression included, needs two consecutive assessments "
                "(any interval, before new therapy); the confirmed category is the lower of "
                "the two"
            ),
            source="Kumar 2016 (IMWG), Lancet Oncol 17:e328, response criteria table notes",
            ranks=MappingProxyType({"PR": 1, "VGPR": 2, "CR": 3, "sCR": 4}),
        ),
        "eln": ConfirmationRule(
            response_repeat=False,
            min_days=0,
            progression_repeat=False,
            rule=(
                "CR, CRh, CRi, MLFS and PR are judged at one marrow assessment; ELN sets no "
                "repeat; relapse (blasts >= 5% after CR/CRh/CRi) needs none"
            ),
            source="Döhner 2022 (ELN), Blood 140:1345, Table 6",
        ),
        "ata": ConfirmationRule(
            response_repeat=False,
            min_days=0,
            progression_repeat=False,
            rule=(
                "the response to therapy is classified anew at each assessment (imaging, Tg, "
                "Tg antibodies); no repeat rule"
            ),
            source="Haugen 2016 (ATA 2015), Thyroid 26:1, Table 13 and R61-R62",
        ),
        "ctc": ConfirmationRule(
            response_repeat=False,
            min_days=0,
            progression_repeat=False,
            rule="remission is confirmed by one sample with CTC 0-1 AND markers negative or dim",
            source="seed 001 (HER2+ breast, CTC monitoring)",
        ),
        "psa": ConfirmationRule(
            response_repeat=False,
            min_days=0,
            progression_repeat=False,
            rule=(
                "undetectable PSA (< 0.2 ng/mL) at one value; biochemical recurrence is "
                "confirmed by a second value >= 0.2 inside the PSA module"
            ),
            source="Cookson 2007 (AUA), J Urol 177:540",
        ),
        "pathologic": ConfirmationRule(
            response_repeat=False,
            min_days=0,
            progression_repeat=False,
            rule="the surgical specimen is final: no repeat exists",
            source="FDA 2020 guidance on pCR in neoadjuvant breast cancer",
        ),
        "mrd": ConfirmationRule(
            response_repeat=False,
            min_days=0,
            progression_repeat=False,
            rule=(
                "MRD is a depth, not a response; an MRD relapse (conversion to positive) is "
                "confirmed by a second consecutive positive sample inside the MRD module"
            ),
            source="Heuser 2021 (ELN MRD), Blood 138:2753; Kumar 2016 (IMWG MRD)",
        ),
    }
)

_REMISSION = (Response.COMPLETE, Response.PARTIAL)
_STEP = {Response.COMPLETE: 2, Response.PARTIAL: 1}


class Pending(NamedTuple):
    """A response or progression of `system` seen at `at`, waiting for its repeat."""

    system: str
    response: Response
    category: str
    depth: str | None
    at: int


class Outcome(NamedTuple):
    """What an evaluation does: `counts` is the confirmed response or progression (None when
    nothing is confirmed), at the level of `category`/`depth`, first met at `since`;
    `pending` is what now waits for a repeat for this system (None: nothing)."""

    counts: Response | None
    category: str
    depth: str | None
    since: int
    pending: Pending | None


@functools.lru_cache(maxsize=1024)
def level(system: str, response: Response, depth: str | None, category: str) -> int:
    """A comparable level: ladder step, then depth, then the system's own category rank
    (cached: a few dozen combinations exist, and the fold asks for every response)."""
    ranks = RULES[system].ranks if system in RULES else {}
    return _STEP.get(response, 0) * 100 + depth_rank(depth) * 10 + ranks.get(category, 0)


def confirm(pending: Pending | None, evaluation: Evaluation, at: int) -> Outcome:
    """Apply `evaluation.system`'s rule to one evaluation made at `at`, given what is pending."""
    system, response = evaluation.system, evaluation.response
    rule = RULES[system]
    category, depth = evaluation.category, evaluation.depth
    if response in _REMISSION:
        if not rule.response_repeat:
            return Outcome(response, category, depth, at, None)
        current = Pending(system, response, category, depth, at)
        if pending is None or pending.response not in _REMISSION:
            return Outcome(None, category, depth, at, current)
        if at - pending.at < rule.min_days * DAY:
            return Outcome(None, category, depth, at, pending)  # too early: the first waits
        first = level(system, pending.response, pending.depth, pending.category)
        now = level(system, response, depth, category)
        if now > first:  # the deeper one needs its own repeat
            return Outcome(pending.response, pending.category, pending.depth, pending.at, current)
        return Outcome(response, category, depth, pending.at, None)
    if response is Response.PROGRESSION:
        if not rule.progression_repeat:
            return Outcome(response, category, depth, at, None)
        if pending is not None and pending.response is Response.PROGRESSION:
            return Outcome(response, pending.category, depth, pending.at, None)
        return Outcome(None, category, depth, at, Pending(system, response, category, depth, at))
    return Outcome(None, category, depth, at, None)  # SD or NE: what was pending is not confirmed


def needs_repeat(evaluation: Evaluation) -> bool:
    """Whether this evaluation's response or progression counts only after a repeat."""
    rule = RULES[evaluation.system]
    if evaluation.response in _REMISSION:
        return rule.response_repeat
    return evaluation.response is Response.PROGRESSION and rule.progression_repeat
