"""When a protocol or a rule applies: conditions on receptors, intent, stage, flags and spread."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.events import CancerSite, Flag, Intent, ReceptorStatus
from models.protocols.profile import ProtocolProfile, stages_overlap
from models.stages import STAGE_PATTERN, stage_parts

Stage = Annotated[str, Field(pattern=STAGE_PATTERN)]
SubtypeCode = Annotated[str, Field(pattern=r"^[a-z0-9]+(_[a-z0-9]+)*$")]  # profile.subtype_code


class Frozen(BaseModel):
    """Base of every protocol model: immutable, and unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ReceptorCondition(Frozen):
    """Allowed receptor statuses; a receptor not listed is not constrained."""

    er: tuple[ReceptorStatus, ...] | None = None
    pr: tuple[ReceptorStatus, ...] | None = None
    her2: tuple[ReceptorStatus, ...] | None = None


@dataclass(frozen=True, slots=True)
class Matcher:
    """Conditions compiled to plain sets of strings: checking a profile parses nothing."""

    required: frozenset[str]
    excluded: frozenset[str]
    intents: frozenset[str] | None
    receptors: tuple[tuple[str, frozenset[str]], ...]
    metastatic: bool | None
    stages: tuple[tuple[str, ...], ...] | None
    stages_excluded: tuple[tuple[str, ...], ...] = ()
    subtypes: frozenset[str] | None = None
    subtypes_excluded: frozenset[str] = frozenset()
    in_remission: bool | None = None

    def matches(self, profile: ProtocolProfile) -> bool:
        """Whether every condition holds for `profile`."""
        flags = profile.flags
        if not self.required <= flags or not self.excluded.isdisjoint(flags):
            return False
        if self.intents is not None and profile.intent not in self.intents:
            return False
        for name, allowed in self.receptors:
            if profile.receptors.get(name, "unknown") not in allowed:
                return False
        if self.metastatic is not None and profile.metastatic != self.metastatic:
            return False
        if self.in_remission is not None and profile.in_remission != self.in_remission:
            return False
        subtype = profile.subtype
        if self.subtypes is not None and subtype not in self.subtypes:
            return False
        if subtype is not None and subtype in self.subtypes_excluded:
            return False
        if self.stages_excluded:
            # Only a stage that lies wholly inside an excluded group is excluded ("IA" inside
            # "I"); a patient without a stage, or with a coarser one ("II" vs "IIA"), is not.
            patient = stage_parts(profile.stage)
            if any(
                patient and len(patient) >= len(listed) and patient[: len(listed)] == listed
                for listed in self.stages_excluded
            ):
                return False
        if self.stages is not None:
            patient = stage_parts(profile.stage)
            return any(stages_overlap(listed, patient) for listed in self.stages)
        return True


class Conditions(Frozen):
    """When something applies. Every condition given must hold; none given means always.

    `stages` matches when a listed stage and the patient's could be the same (one refines the
    other); a patient without a stage matches no `stages` condition. `stages_excluded` excludes
    a patient whose stage lies wholly inside a listed group ("IA" inside "I"). `subtypes` lists
    the histologies (as `subtype_code`s) it is for, `subtypes_excluded` those it is not for (a
    patient without a subtype is not excluded). `metastatic` compares with the `metastatic` flag
    or a stage IV group; `in_remission` with a current remission episode. A receptor missing
    from the profile is "unknown".
    """

    receptors: ReceptorCondition | None = None
    intent: tuple[Intent, ...] | None = None
    stages: tuple[Stage, ...] | None = None
    stages_excluded: tuple[Stage, ...] = ()
    subtypes: tuple[SubtypeCode, ...] | None = None
    subtypes_excluded: tuple[SubtypeCode, ...] = ()
    flags_required: frozenset[Flag] = frozenset()
    flags_excluded: frozenset[Flag] = frozenset()
    metastatic: bool | None = None
    in_remission: bool | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Conditions:
        for name in ("intent", "stages", "subtypes"):
            if getattr(self, name) == ():
                raise ValueError(f"{name}: empty list never matches; leave the key out instead")
        both = self.flags_required & self.flags_excluded
        if both:
            names = ", ".join(sorted(flag.value for flag in both))
            raise ValueError(f"flags {names}: both required and excluded")
        _ = self.matcher  # compile once, while loading
        return self

    @cached_property
    def matcher(self) -> Matcher:
        """The compiled form `matches` uses."""
        checks = []
        if self.receptors is not None:
            for name in ("er", "pr", "her2"):
                allowed = getattr(self.receptors, name)
                if allowed is not None:
                    checks.append((name, frozenset(status.value for status in allowed)))
        return Matcher(
            required=frozenset(flag.value for flag in self.flags_required),
            excluded=frozenset(flag.value for flag in self.flags_excluded),
            intents=None if self.intent is None else frozenset(i.value for i in self.intent),
            receptors=tuple(checks),
            metastatic=self.metastatic,
            stages=None if self.stages is None else tuple(stage_parts(s) for s in self.stages),
            stages_excluded=tuple(stage_parts(s) for s in self.stages_excluded),
            subtypes=None if self.subtypes is None else frozenset(self.subtypes),
            subtypes_excluded=frozenset(self.subtypes_excluded),
            in_remission=self.in_remission,
        )

    def matches(self, profile: ProtocolProfile) -> bool:
        """Whether every condition holds for `profile`."""
        return self.matcher.matches(profile)


class AppliesTo(Conditions):
    """Which patients a protocol is for: a cancer site and, optionally, conditions."""

    site: CancerSite
