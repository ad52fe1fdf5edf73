"""What protocol selection needs to know about a patient, as plain values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from models.stages import stage_parts

if TYPE_CHECKING:
    from models.events import PatientEnrolled


@dataclass(frozen=True, slots=True)
class ProtocolProfile:
    """The facts that choose a protocol and switch its rules on or off.

    `receptors` maps "er", "pr", "her2" to "positive" / "negative" / "unknown" (a missing key
    is "unknown"); `stage` is an AJCC-style group such as "IIB" or None; `flags` holds
    `models.events.Flag` values; `protocol` is an explicit protocol id chosen by a clinician;
    `subtype` the histology as the enrolment gives it; `in_remission` whether a remission
    episode is current (schedules that change once remission is reached read it).
    """

    site: str
    receptors: Mapping[str, str] = field(default_factory=dict)
    stage: str | None = None
    intent: str = "curative"
    flags: frozenset[str] = frozenset()
    protocol: str | None = None
    subtype: str | None = None  # histology, normalised by `subtype_code` ("small_cell")
    in_remission: bool = False  # a current remission episode (set by the clocks)

    def __post_init__(self) -> None:
        if self.subtype is not None:
            object.__setattr__(self, "subtype", subtype_code(self.subtype))

    @property
    def metastatic(self) -> bool:
        """True with the `metastatic` flag or a stage IV group."""
        return "metastatic" in self.flags or stage_parts(self.stage)[:1] == ("IV",)

    @classmethod
    def from_enrolment(cls, enrolled: PatientEnrolled) -> ProtocolProfile:
        """The profile of a `PatientEnrolled` event."""
        receptors = enrolled.receptors
        return cls(
            site=enrolled.site,
            receptors={
                "er": receptors.er.value,
                "pr": receptors.pr.value,
                "her2": receptors.her2.value,
            },
            stage=enrolled.stage,
            intent=enrolled.intent.value,
            flags=frozenset(flag.value for flag in enrolled.flags),
            protocol=enrolled.protocol,
            subtype=enrolled.subtype,
        )


def subtype_code(text: str) -> str:
    """A histology as a code: lower case, runs of spaces, hyphens and dots as one underscore
    ("Small-cell" -> "small_cell", "Non seminoma" -> "non_seminoma")."""
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")


def stages_overlap(listed: tuple[str, ...], patient: tuple[str, ...]) -> bool:
    """Whether a listed stage and the patient's could be the same: one refines the other.

    "II" overlaps "IIA" and "IIB"; "IIA" overlaps "IIA1" but not "IIB"; "I" never overlaps "II".
    """
    if not listed or not patient:
        return False
    shorter = min(len(listed), len(patient))
    return listed[:shorter] == patient[:shorter]
