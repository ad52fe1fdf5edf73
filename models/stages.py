"""Stage groups: the syntax every enrolment accepts, and the AJCC 8th edition groups per site.

Source: AJCC Cancer Staging Manual, 8th edition (Amin MB, et al., Springer 2017; in force in
the US from 1 January 2018), each site's "AJCC prognostic stage groups" table, cited per site
below. Lymphomas use the Lugano classification that the AJCC 8th edition adopts (chapter 79,
Hodgkin and non-Hodgkin lymphoma), with the "E" suffix for a single extranodal lesion; myeloma
uses the Revised International Staging System the AJCC 8th edition adopts (chapter 82);
ovarian cancer its FIGO-aligned groups (chapter 55).

A group may be given with less detail than the table has ("II" for "IIB", "IA" for "IA2"):
registries and referrals often carry only the main group, and protocol selection treats a
shorter group as "could be any of its refinements" (`models.protocols.profile`). A site with no
table here (one without a surveillance protocol, or AML, which has no stage) accepts any group
that has the general syntax.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

# Roman group, optional letter (A-D, or S for testicular IS), optional digit (lung IA1,
# ovarian IC2), optional E (extranodal lymphoma).
STAGE_PATTERN: Final = r"^(0|I|II|III|IV)([A-DS])?([0-9])?(E)?$"
_STAGE = re.compile(STAGE_PATTERN)

_LYMPHOMA = tuple(
    f"{group}{symptoms}{extranodal}"
    for group in ("I", "II", "III", "IV")
    for symptoms in ("", "A", "B")
    for extranodal in (("", "E") if group in ("I", "II") else ("",))
)

# Site -> (the AJCC 8th edition chapter, its stage groups at their finest).
AJCC8_GROUPS: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "breast": (
        "AJCC 8th ed. ch. 48 (breast), anatomic stage groups",
        ("0", "IA", "IB", "IIA", "IIB", "IIIA", "IIIB", "IIIC", "IV"),
    ),
    "colorectal": (
        "AJCC 8th ed. ch. 20 (colon and rectum)",
        ("0", "I", "IIA", "IIB", "IIC", "IIIA", "IIIB", "IIIC", "IVA", "IVB", "IVC"),
    ),
    "hodgkin": ("AJCC 8th ed. ch. 79 (Hodgkin lymphoma; Lugano)", _LYMPHOMA),
    "dlbcl": ("AJCC 8th ed. ch. 80 (non-Hodgkin lymphoma; Lugano)", _LYMPHOMA),
    "thyroid": (
        "AJCC 8th ed. ch. 73 (differentiated and anaplastic thyroid)",
        ("I", "II", "III", "IVA", "IVB", "IVC"),
    ),
    "lung": (
        "AJCC 8th ed. ch. 36 (lung)",
        (
            "0",
            "IA1",
            "IA2",
            "IA3",
            "IB",
            "IIA",
            "IIB",
            "IIIA",
            "IIIB",
            "IIIC",
            "IVA",
            "IVB",
        ),
    ),
    "prostate": (
        "AJCC 8th ed. ch. 58 (prostate)",
        ("I", "IIA", "IIB", "IIC", "IIIA", "IIIB", "IIIC", "IVA", "IVB"),
    ),
    "melanoma": (
        "AJCC 8th ed. ch. 47 (melanoma of the skin), pathological stage groups",
        ("0", "IA", "IB", "IIA", "IIB", "IIC", "IIIA", "IIIB", "IIIC", "IIID", "IV"),
    ),
    "ovarian": (
        "AJCC 8th ed. ch. 55 (ovary, fallopian tube, primary peritoneal; FIGO)",
        (
            "IA",
            "IB",
            "IC1",
            "IC2",
            "IC3",
            "IIA",
            "IIB",
            "IIIA1",
            "IIIA2",
            "IIIB",
            "IIIC",
            "IVA",
            "IVB",
        ),
    ),
    "testicular": (
        "AJCC 8th ed. ch. 59 (testis)",
        ("0", "IA", "IB", "IS", "IIA", "IIB", "IIC", "IIIA", "IIIB", "IIIC"),
    ),
    "myeloma": ("AJCC 8th ed. ch. 82 (plasma cell myeloma; R-ISS)", ("I", "II", "III")),
}


def stage_parts(stage: str | None) -> tuple[str, ...]:
    """The parts of a stage group: IIB1 -> (II, B, 1); IIE -> (II, E); None or bad -> ()."""
    if stage is None:
        return ()
    return _parts(stage)


@lru_cache(maxsize=256)
def _parts(stage: str) -> tuple[str, ...]:
    match = _STAGE.match(stage)
    if match is None:
        return ()
    return tuple(part for part in match.groups() if part)


@lru_cache(maxsize=64)
def accepted_groups(site: str) -> frozenset[str] | None:
    """Every group `site` accepts: its AJCC 8th edition groups and each one with less detail
    ("IIIA1" also admits "IIIA" and "III"); None for a site without a table (any syntax)."""
    entry = AJCC8_GROUPS.get(site)
    if entry is None:
        return None
    accepted: set[str] = set()
    for group in entry[1]:
        parts = _parts(group)
        for length in range(1, len(parts) + 1):
            accepted.add("".join(parts[:length]))
    return frozenset(accepted)


def stage_problem(site: str, stage: str) -> str | None:
    """Why `stage` is not a stage group of `site`, or None when it is."""
    if not _STAGE.match(stage):
        return f"stage {stage!r} is not a stage group (e.g. IIB, IIIA1, IS, IIE)"
    accepted = accepted_groups(site)
    if accepted is None or stage in accepted:
        return None
    chapter, groups = AJCC8_GROUPS[site]
    return f"stage {stage!r} is not a stage group for {site} ({chapter}: {', '.join(groups)})"
