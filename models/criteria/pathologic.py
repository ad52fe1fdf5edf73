"""Pathologic complete response after neoadjuvant therapy in breast cancer: no residual invasive
cancer in breast and nodes (ypT0/is ypN0; FDA guidance on pCR, 2020 (check))."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from models.criteria.base import (
    DEPTH_PARTIAL,
    DEPTH_PATHOLOGIC_CR,
    CriteriaMemory,
    Evaluation,
    Measurements,
    Response,
    judged,
)

SYSTEM = "pathologic"
_BREAST_CLEAR = frozenset({"ypT0", "ypTis"})  # in-situ disease alone still counts as pCR
_NODES_CLEAR = frozenset({"ypN0"})


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
    """pCR -> COMPLETE with depth "pCR"; residual invasive disease -> PARTIAL "residual_disease"
    (the tumour is still present; how much it shrank is not judged here). Both need confirmation,
    like any complete or partial response. Memory is not used and comes back unchanged."""
    a = assessment
    stage = " ".join(s for s in (a.ypt, a.ypn) if s)
    if not (a.residual_invasive_breast or a.residual_invasive_nodes):
        detail = f"no residual invasive cancer in breast or nodes {stage}".rstrip()
        return judged(SYSTEM, "pCR", Response.COMPLETE, detail, depth=DEPTH_PATHOLOGIC_CR), memory
    sites = [
        s
        for s, r in (("breast", a.residual_invasive_breast), ("nodes", a.residual_invasive_nodes))
        if r
    ]
    detail = f"residual invasive cancer in {' and '.join(sites)} {stage}".rstrip()
    evaluation = judged(SYSTEM, "residual_disease", Response.PARTIAL, detail, depth=DEPTH_PARTIAL)
    return evaluation, memory
