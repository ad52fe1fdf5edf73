"""Measurable residual disease, always with its method and sensitivity, never a bare boolean.

MRD is a depth below a complete response, not a response of its own: a negative result deepens
a remission episode; it opens none. A result counts as MRD-negative only when the assay reaches
the disease's required sensitivity (`REQUIRED_SENSITIVITY`). A conversion from negative to
positive is an MRD (molecular) relapse once a second consecutive sample is positive too
(Heuser 2021, ELN MRD update, "MRD relapse"): the depth is no longer MRD-negative and the care
team is told.

Memory keys: `negative` (1.0 after a qualifying negative result) and `converting` (1.0 after
the first positive result that follows it).
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Literal

from pydantic import Field

from models.criteria.base import (
    DEPTH_MRD_NEGATIVE,
    CriteriaMemory,
    Evaluation,
    Measurements,
    Response,
    judged,
)

SYSTEM = "mrd"

# The sensitivity an assay must reach for a negative result to count as MRD-negative, per
# disease (enrolment `site`), with its source. A site not listed has no threshold on file: a
# negative result is shown with its sensitivity and left for the reader to judge.
REQUIRED_SENSITIVITY = MappingProxyType(
    {
        # IMWG 2016 (Kumar, Lancet Oncol 17:e328): MRD-negative by NGF or NGS needs a minimum
        # sensitivity of 1 in 10^5 nucleated cells.
        "myeloma": (1e-5, "IMWG 2016 (Kumar): sensitivity of 1 in 10^5 or better"),
        # ELN MRD 2021 (Heuser, Blood 138:2753): MFC-MRD positive at >= 0.1%; an assay that
        # cannot reach 1e-3 cannot call a sample negative (check: molecular assays usually
        # reach 1e-4 to 1e-6).
        "aml": (1e-3, "ELN MRD 2021 (Heuser): threshold 0.1% (check)"),
    }
)
_REL_TOLERANCE = 1e-9  # 1e-05 written as 0.00001 is the same threshold


class MrdAssessment(Measurements):
    """One MRD result. `sensitivity` is the assay's limit as a fraction in (0, 1), e.g. 1e-5
    (one abnormal cell in 100,000); `method` and `sensitivity` have no defaults on purpose."""

    system: Literal["mrd"] = "mrd"
    method: Literal["flow", "pcr", "ngs", "ctdna"]
    sensitivity: float = Field(gt=0, lt=1)
    detected: bool


def mrd_depth(method: str, sensitivity: float) -> str:
    """The depth label of a negative result, e.g. "MRD-negative (ngs, 1e-06)"."""
    return f"{DEPTH_MRD_NEGATIVE} ({method}, {sensitivity:.0e})"


def sensitive_enough(site: str | None, sensitivity: float) -> tuple[bool, str]:
    """Whether an assay of `sensitivity` can call MRD-negative for `site`, and why."""
    required = REQUIRED_SENSITIVITY.get(site or "")
    if required is None:
        return True, f"no MRD threshold on file for {site or 'this disease'}"
    threshold, source = required
    return sensitivity <= threshold * (1 + _REL_TOLERANCE), f"needs {threshold:.0e}: {source}"


def evaluate_mrd(
    memory: CriteriaMemory, assessment: MrdAssessment, site: str | None = None
) -> tuple[Evaluation, CriteriaMemory]:
    """Judge one MRD result for a patient with `site` (the enrolment's cancer site).

    Every category is NOT_EVALUABLE on the response ladder (MRD is not a response):
    "MRD-negative" carries the depth; "MRD-negative-insufficient" is a negative result from an
    assay too insensitive for the disease (no depth); "MRD-conversion" is a first positive after
    a negative (needs a second); "MRD-relapse" is the second consecutive positive after a
    negative (`molecular_relapse`); "MRD-positive" is any other positive result.
    """
    a = assessment
    assay = f"{a.method} at sensitivity {a.sensitivity:.0e}"
    if not a.detected:
        enough, why = sensitive_enough(site, a.sensitivity)
        memory = memory.with_values(converting=None)
        if not enough:
            detail = f"no residual disease detected by {assay}, too insensitive ({why})"
            return judged(
                SYSTEM, "MRD-negative-insufficient", Response.NOT_EVALUABLE, detail
            ), memory
        detail = f"no residual disease detected by {assay} ({why})"
        depth = mrd_depth(a.method, a.sensitivity)
        evaluation = judged(
            SYSTEM,
            "MRD-negative",
            Response.NOT_EVALUABLE,
            detail,
            metric=a.sensitivity,
            depth=depth,
        )
        return evaluation, memory.with_values(negative=1.0)
    if memory.get("converting") is not None:
        detail = (
            f"residual disease detected by {assay} in a second consecutive sample after an "
            "MRD-negative result: MRD relapse (Heuser 2021)"
        )
        evaluation = judged(SYSTEM, "MRD-relapse", Response.NOT_EVALUABLE, detail)
        cleared = memory.with_values(negative=None, converting=None)
        return replace(evaluation, molecular_relapse=True), cleared
    if memory.get("negative") is not None:
        detail = (
            f"residual disease detected by {assay} after an MRD-negative result: a second "
            "consecutive positive sample confirms an MRD relapse (Heuser 2021)"
        )
        evaluation = judged(
            SYSTEM, "MRD-conversion", Response.NOT_EVALUABLE, detail, needs_confirmation=True
        )
        return evaluation, memory.with_values(converting=1.0)
    detail = f"residual disease detected by {assay}; not progression by itself"
    return judged(SYSTEM, "MRD-positive", Response.NOT_EVALUABLE, detail), memory
