"""A rule's schedule compiled to whole months, so computing a window parses nothing."""

from __future__ import annotations

from dataclasses import dataclass

from models.protocols.conditions import Matcher


@dataclass(frozen=True, slots=True)
class PhasePlan:
    """One phase in months after the anchor: [start_month, end_month), every [low, high]."""

    start_month: int
    end_month: int | None
    low: int
    high: int
    label: str


@dataclass(frozen=True, slots=True)
class RulePlan:
    """Everything `next_window` reads, as plain values.

    `end_month` is where the schedule stops (months after the anchor; None: never). `first` is
    the [min, max] placing the first one, in weeks when `first_in_weeks`, else months.
    """

    phases: tuple[PhasePlan, ...]
    at_months: tuple[int, ...]
    at_labels: tuple[str, ...]
    first: tuple[int, int] | None
    first_after_enrolment: int | None
    first_strict: bool
    first_in_weeks: bool
    first_label: str
    end_month: int | None
    earliest_days: int
    grace_days: int
    source: str
    when: Matcher | None

    def phase_at(self, months: int) -> PhasePlan | None:
        """The phase holding `months` whole months after the anchor, or None past the end."""
        for phase in self.phases:
            if phase.start_month <= months and (
                phase.end_month is None or months < phase.end_month
            ):
                return phase
        return None


def range_text(values: tuple[int, int], unit: str) -> str:
    """(3, 6) -> "3-6 months"; (12, 12) -> "12 months"."""
    low, high = values
    return f"{low} {unit}" if low == high else f"{low}-{high} {unit}"


def span_text(from_years: int, to_years: int | None) -> str:
    """(0, 3) -> "years 1-3"; (2, 3) -> "year 3"; (5, None) -> "from year 6"."""
    if to_years is None:
        return "for life" if from_years == 0 else f"from year {from_years + 1}"
    if to_years - from_years == 1:
        return f"year {to_years}"
    return f"years {from_years + 1}-{to_years}"
