"""The protocol file schema: frozen pydantic models that reject whatever a reader could misread.

Months are calendar months (CDSi arithmetic, `models.dates.add_months`), years are 12 of them,
days are calendar days. Every check that fails raises a message naming the field and the
problem; `models.protocols.parse` adds the file and the rule.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cached_property
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from models.outputs import Category
from models.protocols.conditions import AppliesTo, Conditions, Frozen, Matcher
from models.protocols.plan import PhasePlan, RulePlan, range_text, span_text
from models.protocols.profile import ProtocolProfile

ProtocolId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]{0,63}$")]
Text = Annotated[str, Field(min_length=1, max_length=600)]
Months = Annotated[int, Field(ge=1, le=600)]
Weeks = Annotated[int, Field(ge=1, le=520)]
Years = Annotated[int, Field(ge=0, le=100)]
Anchor = Literal["treatment_end", "remission_start", "enrolment"]

_LOINC = re.compile(r"^[0-9]{1,7}-[0-9]$")
SCHEDULED_CATEGORIES = frozenset({Category.SCAN, Category.LAB, Category.VISIT})


def loinc_check_digit(body: str) -> int:
    """The LOINC mod-10 check digit of the digits before the dash (Luhn)."""
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return (10 - total % 10) % 10


def _check_range(name: str, values: tuple[int, int] | None) -> None:
    if values is not None and values[0] > values[1]:
        raise ValueError(f"{name} {list(values)}: minimum above maximum")


class Phase(Frozen):
    """From `from_years` to `to_years` (None: for life) after anchor: every [min, max] months."""

    from_years: Years
    to_years: Years | None
    every_months: tuple[Months, Months]

    @model_validator(mode="after")
    def _ordered(self) -> Phase:
        _check_range("every_months", self.every_months)
        if self.to_years is not None and self.to_years <= self.from_years:
            raise ValueError(f"to_years {self.to_years} is not after from_years {self.from_years}")
        return self

    @property
    def label(self) -> str:
        """Human words, e.g. "years 1-3: every 3-6 months"."""
        every = range_text(self.every_months, "months")
        return f"{span_text(self.from_years, self.to_years)}: every {every}"


def loinc_problem(code: str) -> str | None:
    """Why `code` is not a LOINC code (shape, mod-10 check digit), or None."""
    if not _LOINC.match(code):
        return f"loinc {code!r}: not a LOINC code (digits, dash, check digit)"
    body, check = code.split("-")
    if loinc_check_digit(body) != int(check):
        return f"loinc {code!r}: check digit should be {loinc_check_digit(body)}"
    return None


class SatisfiedBy(Frozen):
    """What completes a rule: any of these item codes (scans, visits), lab markers (each a
    value set of LOINC codes, `models.protocols.value_sets`) or single LOINC codes."""

    items: tuple[RuleId, ...] = ()
    markers: tuple[RuleId, ...] = ()
    loinc: tuple[str, ...] = ()

    @field_validator("loinc")
    @classmethod
    def _loinc_codes(cls, codes: tuple[str, ...]) -> tuple[str, ...]:
        for code in codes:
            problem = loinc_problem(code)
            if problem is not None:
                raise ValueError(problem)
        return codes

    @model_validator(mode="after")
    def _something(self) -> SatisfiedBy:
        if not self.items and not self.loinc and not self.markers:
            raise ValueError("nothing can satisfy this rule: give items, markers or loinc")
        return self


class WindowSpec(Frozen):
    """How far before the due date a reminder may go, and the grace after the latest date."""

    earliest_days: Annotated[int, Field(ge=0, le=365)] = 14
    grace_days: Annotated[int, Field(ge=1, le=365)] = 7


class Rule(Frozen):
    """One surveillance item: what is due, how often, when, and on whose authority.

    The schedule is either `phases` (intervals counted from the last time it was done) or
    `at_months` (fixed offsets from the anchor). `first_after_months` / `first_after_weeks`
    place the first one of a phased rule; `until_years` ends a rule early.
    """

    id: RuleId
    label: Text
    category: Category
    source: Text
    date: dt.date
    satisfied_by: SatisfiedBy
    phases: tuple[Phase, ...] | None = None
    at_months: tuple[Months, ...] | None = None
    first_after_months: tuple[Months, Months] | None = None
    first_after_weeks: tuple[Weeks, Weeks] | None = None
    # Not before this many months after enrolment either (the enrolment date stands for the
    # diagnosis and its diagnostic imaging, of which it is the latest possible date).
    first_after_enrolment_months: Months | None = None
    # The first window opens at its minimum, not `earliest_days` before it, and a result from
    # before the minimum does not count as the first (a PSA before 6 weeks, a mammogram before
    # 6 months after radiation).
    first_strict: bool = False
    until_years: Annotated[int, Field(ge=1, le=100)] | None = None
    window: WindowSpec = WindowSpec()
    when: Conditions | None = None
    start_after: Literal["adjuvant_chemotherapy_end"] | None = None
    note: Text | None = None

    @field_validator("category")
    @classmethod
    def _scheduled_category(cls, category: Category) -> Category:
        if category not in SCHEDULED_CATEGORIES:
            raise ValueError(f"{category.value!r} is not scheduled here: use scan, lab or visit")
        return category

    @model_validator(mode="after")
    def _one_schedule(self) -> Rule:
        if self.phases is None and self.at_months is None:
            raise ValueError("no schedule: give phases or at_months")
        if self.phases is not None and self.at_months is not None:
            raise ValueError("both phases and at_months: give one schedule")
        if self.first_after_months is not None and self.first_after_weeks is not None:
            raise ValueError("both first_after_months and first_after_weeks: give one")
        has_first = self.first_after_months is not None or self.first_after_weeks is not None
        if (self.first_strict or self.first_after_enrolment_months) and not has_first:
            raise ValueError(
                "first_strict and first_after_enrolment_months refine first_after_months or "
                "first_after_weeks: give one of those"
            )
        _check_range("first_after_months", self.first_after_months)
        _check_range("first_after_weeks", self.first_after_weeks)
        if self.phases is not None:
            _check_phases(self.phases)
        else:
            _check_offsets(self)
        end = _end_month(self)
        first = self._first_months()
        if end is not None and first is not None and first > end:
            raise ValueError(
                f"the first one ({first} months) comes after the schedule ends ({end} months)"
            )
        _ = self.plan  # compile once, while loading
        return self

    def _first_months(self) -> int | None:
        if self.first_after_months is not None:
            return self.first_after_months[0]
        if self.first_after_weeks is not None:
            return self.first_after_weeks[0] * 7 // 31
        return None

    @cached_property
    def plan(self) -> RulePlan:
        """The compiled schedule (computed once; the model is immutable)."""
        return _compile(self)

    def applies(self, profile: ProtocolProfile) -> bool:
        """Whether `when` (if any) holds for `profile`."""
        return self.when is None or self.when.matcher.matches(profile)


def _check_phases(phases: tuple[Phase, ...]) -> None:
    if not phases:
        raise ValueError("phases: empty")
    if phases[0].from_years != 0:
        raise ValueError(
            f"phases[0] starts at year {phases[0].from_years}: the first must start at 0"
        )
    for index, (before, after) in enumerate(pairwise(phases)):
        if before.to_years is None:
            raise ValueError(f"phases[{index}] runs for life (to_years null) but is not the last")
        if after.from_years < before.to_years:
            raise ValueError(
                f"phases[{index + 1}] (from year {after.from_years}) overlaps "
                f"phases[{index}] (to year {before.to_years})"
            )
        if after.from_years > before.to_years:
            raise ValueError(
                f"gap between phases[{index}] (to year {before.to_years}) and "
                f"phases[{index + 1}] (from year {after.from_years})"
            )


def _check_offsets(rule: Rule) -> None:
    offsets = rule.at_months or ()
    if not offsets:
        raise ValueError("at_months: empty")
    if any(later <= earlier for earlier, later in pairwise(offsets)):
        raise ValueError(f"at_months {list(offsets)}: not increasing")
    if rule.first_after_months is not None or rule.first_after_weeks is not None:
        raise ValueError(
            "first_after with at_months: the first offset already places the first one"
        )
    if rule.until_years is not None and offsets[-1] > rule.until_years * 12:
        raise ValueError(f"at_months {offsets[-1]} comes after until_years {rule.until_years}")


def _end_month(rule: Rule) -> int | None:
    if rule.phases is not None:
        last = rule.phases[-1].to_years
        ends = [12 * last] if last is not None else []
        if rule.until_years is not None:
            if last is not None and rule.until_years > last:
                raise ValueError(
                    f"until_years {rule.until_years} is after the last phase ends (year {last})"
                )
            ends.append(12 * rule.until_years)
        return min(ends) if ends else None
    offsets = rule.at_months or ()
    return offsets[-1] if offsets else None


def _compile(rule: Rule) -> RulePlan:
    phases = tuple(
        PhasePlan(
            start_month=12 * phase.from_years,
            end_month=None if phase.to_years is None else 12 * phase.to_years,
            low=phase.every_months[0],
            high=phase.every_months[1],
            label=phase.label,
        )
        for phase in rule.phases or ()
    )
    offsets = rule.at_months or ()
    schedule = ", ".join(str(offset) for offset in offsets)
    first: tuple[int, int] | None = rule.first_after_months or rule.first_after_weeks
    unit = "weeks" if rule.first_after_weeks is not None else "months"
    return RulePlan(
        phases=phases,
        at_months=offsets,
        at_labels=tuple(f"at {offset} months (of {schedule} months)" for offset in offsets),
        first=first,
        first_after_enrolment=rule.first_after_enrolment_months,
        first_strict=rule.first_strict,
        first_in_weeks=rule.first_after_weeks is not None,
        first_label=f"first one: {range_text(first, unit)} in" if first else "",
        end_month=_end_month(rule),
        earliest_days=rule.window.earliest_days,
        grace_days=rule.window.grace_days,
        source=f"{rule.source} ({rule.date.isoformat()})",
        when=None if rule.when is None else rule.when.matcher,
    )


class DoNotRemind(Frozen):
    """What the guideline advises against doing routinely: never reminded, explained if asked."""

    id: RuleId
    what: Text
    reason: Text
    source: Text


class Protocol(Frozen):
    """One guideline's surveillance schedule for one cancer site, as a versioned data file."""

    id: ProtocolId
    version: Annotated[str, Field(min_length=1, max_length=32)]
    guideline: Text
    source: Text
    published: dt.date
    reviewed: dt.date
    provisional: bool
    notes: Text | None = None
    applies_to: AppliesTo
    priority: Annotated[int, Field(ge=0, le=1000)]
    anchor: Anchor
    items: tuple[Rule, ...]
    do_not_remind: tuple[DoNotRemind, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Protocol:
        if not self.items:
            raise ValueError("items: empty: a protocol needs at least one rule")
        if self.reviewed < self.published:
            raise ValueError(f"reviewed {self.reviewed} is before published {self.published}")
        problems = _duplicates("rule", [rule.id for rule in self.items])
        problems += _duplicates("do_not_remind", [entry.id for entry in self.do_not_remind])
        scheduled = {rule.id for rule in self.items}
        scheduled |= {item for rule in self.items for item in rule.satisfied_by.items}
        problems += [
            f"do_not_remind {entry.id!r}: also scheduled by a rule"
            for entry in self.do_not_remind
            if entry.id in scheduled
        ]
        if problems:
            raise ValueError("\n".join(problems))
        _ = self.compiled_rules  # compile once, while loading
        return self

    @cached_property
    def rules_by_id(self) -> dict[str, Rule]:
        """Rules by id (computed once)."""
        return {rule.id: rule for rule in self.items}

    @cached_property
    def compiled_rules(self) -> tuple[tuple[Rule, Matcher | None], ...]:
        """Each rule with its compiled `when` (computed once)."""
        return tuple((rule, rule.plan.when) for rule in self.items)

    def applies(self, profile: ProtocolProfile) -> bool:
        """Whether this protocol is for `profile` (site and `applies_to` conditions)."""
        return profile.site == self.applies_to.site.value and self.applies_to.matcher.matches(
            profile
        )

    def applicable_rules(self, profile: ProtocolProfile) -> tuple[Rule, ...]:
        """The rules whose `when` holds for `profile`, in file order."""
        return tuple(
            rule for rule, when in self.compiled_rules if when is None or when.matches(profile)
        )

    def rule(self, rule_id: str) -> Rule | None:
        """The rule with this id, or None."""
        return self.rules_by_id.get(rule_id)

    def not_reminded(self) -> tuple[DoNotRemind, ...]:
        """What the guideline advises against doing routinely."""
        return self.do_not_remind


def _duplicates(kind: str, ids: list[str]) -> list[str]:
    seen: set[str] = set()
    repeated: list[str] = []
    for ident in ids:
        if ident in seen and ident not in repeated:
            repeated.append(ident)
        seen.add(ident)
    return [f"{kind} {ident!r}: duplicate id" for ident in repeated]
