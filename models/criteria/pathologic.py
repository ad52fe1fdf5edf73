"""Pathologic response after neoadjuvant therapy and surgery in breast cancer.

pCR is no residual invasive cancer in breast and nodes (ypT0/is ypN0; FDA guidance on pCR,
2020 (check)). Residual invasive disease in the specimen is not a pCR, but the tumour was
removed: with a complete resection (R0, or margins not reported) there is no evidence of
disease, which is not a partial remission ("partial" means tumour still present; DOMAIN.md §1).
With involved margins (R1) or gross residual (R2) disease remains and there is no remission.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from models.criteria.base import (
    DEPTH_PATHOLOGIC_CR,
    DEPTH_RESECTED,
    CriteriaMemory,
    Evaluation,
    Measurements,
    Response,
    judged,
)

SYSTEM = "pathologic"
_BREAST_CLEAR = frozenset({"ypT0", "ypTis"})  # in-situ disease alone still counts as pCR
_NODES_CLEAR = frozenset({"ypN0"})
# Residual tumour classification of the resection (UICC/AJCC R): R0 none, R1 microscopic
# (involved margins), R2 macroscopic.
Resection = Literal["R0", "R1", "R2"]


class PathologicAssessment(Measurements):
    """The surgical specimen after neoadjuvant therapy. `ypt`/`ypn`, when given, must agree
    with the booleans (ypT0/ypTis means no residual invasive disease in breast, ypN0 in nodes)."""

    system: Literal["pathologic"] = "pathologic"
    residual_invasive_breast: bool
    residual_invasive_nodes: bool
    ypt: Annotated[str, Field(pattern=r"^ypT(0|is|X|[1-4][a-d]?|1mi)$")] | None = None
    ypn: Annotated[str, Field(pattern=r"^ypN(0|X|[1-3][a-c]?|1mi)(\((i|mol)[+-]\))?$")] | None = (
        None
    )
    # Added in wire version 2 (optional): the resection status. None: not reported, read as
    # a complete resection because a pathologic assessment is made on the resected specimen.
    resection: Resection | None = Field(
        default=None,
        description="Wire revision 1.1 (additive, optional; schema_version stays 1): residual "
        "tumour classification of the resection, R0/R1/R2; absent means not reported.",
    )

    @model_validator(mode="after")
    def _stages_agree(self) -> Self:
        if self.ypt is not None and (self.ypt in _BREAST_CLEAR) == self.residual_invasive_breast:
            raise ValueError(f"{self.ypt} contradicts residual_invasive_breast")
        if self.ypn is not None and (self.ypn in _NODES_CLEAR) == self.residual_invasive_nodes:
            raise ValueError(f"{self.ypn} contradicts residual_invasive_nodes")
        return self


def evaluate_pathologic(
    memory: CriteriaMemory, assessment: PathologicAssessment
) -> tuple[Evaluation, CriteriaMemory]:
    """pCR -> COMPLETE with depth "pCR". Residual invasive disease, completely resected (R0 or
    not reported) -> COMPLETE "resected_no_pCR" with depth "NED after resection (not pCR)":
    no evidence of disease after surgery, never a partial remission. R1/R2 -> STABLE
    "residual_tumour": disease remains. The specimen is final: no repeat confirms it
    (`confirmation.RULES["pathologic"]`). Memory is not used and comes back unchanged."""
    a = assessment
    stage = " ".join(s for s in (a.ypt, a.ypn) if s)
    if a.resection in ("R1", "R2"):
        detail = f"resection {a.resection}: tumour left behind {stage}".rstrip()
        return judged(SYSTEM, "residual_tumour", Response.STABLE, detail), memory
    if not (a.residual_invasive_breast or a.residual_invasive_nodes):
        detail = f"no residual invasive cancer in breast or nodes {stage}".rstrip()
        return judged(SYSTEM, "pCR", Response.COMPLETE, detail, depth=DEPTH_PATHOLOGIC_CR), memory
    sites = [
        s
        for s, r in (("breast", a.residual_invasive_breast), ("nodes", a.residual_invasive_nodes))
        if r
    ]
    margins = "R0" if a.resection == "R0" else "resection status not reported"
    detail = (
        f"residual invasive cancer in {' and '.join(sites)} {stage}, resected ({margins}): no "
        "evidence of disease after resection, not a pCR"
    )
    evaluation = judged(SYSTEM, "resected_no_pCR", Response.COMPLETE, detail, depth=DEPTH_RESECTED)
    return evaluation, memory
