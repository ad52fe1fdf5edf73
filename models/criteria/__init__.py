"""Response criteria: raw measurements in, a system's category and the common ladder out.

`evaluate` is pure: the caller keeps one `CriteriaMemory` per system name (`assessment.system`),
starting from `CriteriaMemory()`, and passes back the memory each call returns.
"""

from __future__ import annotations

from typing import Annotated, assert_never

from pydantic import Field

from models.criteria.ata import AtaAssessment, evaluate_ata
from models.criteria.base import CriteriaMemory, Evaluation, Response
from models.criteria.burden import BidimensionalLesion
from models.criteria.ctc import CtcAssessment, evaluate_ctc
from models.criteria.eln import ElnAssessment, evaluate_eln
from models.criteria.imwg import ImwgAssessment, evaluate_imwg
from models.criteria.lugano import LuganoAssessment, evaluate_lugano
from models.criteria.mrd import MrdAssessment, evaluate_mrd
from models.criteria.pathologic import PathologicAssessment, evaluate_pathologic
from models.criteria.psa import PsaAssessment, evaluate_psa
from models.criteria.recist import RecistAssessment, TargetLesion, evaluate_recist
from models.criteria.sources import SOURCES, CriteriaSource
from models.criteria.who import WhoAssessment, evaluate_who

Assessment = Annotated[
    RecistAssessment
    | WhoAssessment
    | LuganoAssessment
    | ImwgAssessment
    | ElnAssessment
    | AtaAssessment
    | PathologicAssessment
    | MrdAssessment
    | CtcAssessment
    | PsaAssessment,
    Field(discriminator="system"),
]


def evaluate(
    memory: CriteriaMemory, assessment: Assessment, site: str | None = None
) -> tuple[Evaluation, CriteriaMemory]:
    """Judge `assessment` by its own system, given that system's memory; returns the evaluation
    and the memory to keep. `site` (the enrolment's cancer site) chooses disease-specific
    thresholds (MRD sensitivity). The same inputs always give the same outputs."""
    match assessment:
        case RecistAssessment():
            return evaluate_recist(memory, assessment)
        case WhoAssessment():
            return evaluate_who(memory, assessment)
        case LuganoAssessment():
            return evaluate_lugano(memory, assessment)
        case ImwgAssessment():
            return evaluate_imwg(memory, assessment)
        case ElnAssessment():
            return evaluate_eln(memory, assessment)
        case AtaAssessment():
            return evaluate_ata(memory, assessment)
        case PathologicAssessment():
            return evaluate_pathologic(memory, assessment)
        case MrdAssessment():
            return evaluate_mrd(memory, assessment, site)
        case CtcAssessment():
            return evaluate_ctc(memory, assessment)
        case PsaAssessment():
            return evaluate_psa(memory, assessment)
        case _:
            assert_never(assessment)


__all__ = [
    "SOURCES",
    "Assessment",
    "AtaAssessment",
    "BidimensionalLesion",
    "CriteriaMemory",
    "CriteriaSource",
    "CtcAssessment",
    "ElnAssessment",
    "Evaluation",
    "ImwgAssessment",
    "LuganoAssessment",
    "MrdAssessment",
    "PathologicAssessment",
    "PsaAssessment",
    "RecistAssessment",
    "Response",
    "TargetLesion",
    "WhoAssessment",
    "evaluate",
]
