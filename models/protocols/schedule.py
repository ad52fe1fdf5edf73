"""When a rule is next due: a pure function of the rule, the anchor date and the last time done."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from models.dates import add_days, add_months, months_between
from models.protocols.plan import RulePlan
from models.protocols.schema import Rule


@dataclass(frozen=True, slots=True)
class Window:
    """One due window, in calendar dates (the patient's local days).

    A reminder may go from `earliest`; the item is due on `due` and overdue on `overdue`.
    Invariant: earliest <= due < overdue. `phase` says in words which part of the schedule
    applies; `source` cites the rule.
    """

    earliest: date
    due: date
    overdue: date
    phase: str
    source: str


def next_window(
    rule: Rule,
    anchor: date,
    last_done: date | None,
    every_months_override: int | None = None,
    enrolled: date | None = None,
) -> Window | None:
    """The next window of `rule`, or None when its schedule has ended.

    `anchor` is the protocol's anchor date (end of treatment or start of remission);
    `last_done` the date it was last done (ignored if before the anchor). A phased rule is due
    the phase's minimum months after the last time (the phase is the one `last_done` falls in)
    and overdue `grace_days` after its maximum; the first one is due the first phase's minimum
    (or `first_after_*`) after the anchor. A fixed-offset rule is due at the first offset whose
    window opens after `last_done`. `every_months_override` (a clinician's change) replaces the
    interval, minimum and maximum alike, until the schedule ends. Windows whose due date falls
    after the end of the schedule are not given. `enrolled` (the enrolment date) places a first
    window that must also wait `first_after_enrolment_months` after it.
    """
    plan = rule.plan
    if last_done is not None and last_done < anchor:
        last_done = None
    if plan.at_months and every_months_override is None:
        return _next_offset(plan, anchor, last_done)
    return _next_interval(plan, anchor, last_done, every_months_override, enrolled)


def _next_offset(plan: RulePlan, anchor: date, last_done: date | None) -> Window | None:
    for offset, label in zip(plan.at_months, plan.at_labels, strict=True):
        due = add_months(anchor, offset)
        earliest = add_days(due, -plan.earliest_days)
        # A done date inside (or after) this offset's window satisfies it.
        if last_done is None or earliest > last_done:
            return Window(earliest, due, add_days(due, plan.grace_days), label, plan.source)
    return None


def _next_interval(
    plan: RulePlan,
    anchor: date,
    last_done: date | None,
    override: int | None,
    enrolled: date | None,
) -> Window | None:
    first = _first_window(plan, anchor, enrolled)
    # Done before the first window opened (e.g. a PSA before its nadir): it does not count.
    if first is not None and last_done is not None and last_done < first[0]:
        last_done = None
    if last_done is None:
        if first is not None:
            _, opens, due, latest = first
            label = plan.first_label
        else:
            low, high, label = _interval(plan, 0, override)
            due, latest = add_months(anchor, low), add_months(anchor, high)
            opens = add_days(due, -plan.earliest_days)
    else:
        months = months_between(anchor, last_done)
        if plan.end_month is not None and months >= plan.end_month:
            return None
        low, high, label = _interval(plan, months, override)
        due, latest = add_months(last_done, low), add_months(last_done, high)
        opens = add_days(due, -plan.earliest_days)
    if plan.end_month is not None and due > add_months(anchor, plan.end_month):
        return None
    return Window(opens, due, add_days(latest, plan.grace_days), label, plan.source)


def _first_window(
    plan: RulePlan, anchor: date, enrolled: date | None
) -> tuple[date, date, date, date] | None:
    """(counts_from, opens, due, latest) of the first one when `first_after_*` places it.

    A result before `counts_from` (the anchor-based window's opening) is not the first one.
    `first_after_enrolment` may push the due date later; it does not make a result done
    after `counts_from` count less (the enrolment date is only the latest possible date of
    what it stands for).
    """
    if plan.first is None:
        return None
    due = _first(plan, anchor, plan.first[0])
    latest = _first(plan, anchor, plan.first[1])
    counts_from = due if plan.first_strict else add_days(due, -plan.earliest_days)
    if plan.first_after_enrolment is not None and enrolled is not None:
        due = max(due, add_months(enrolled, plan.first_after_enrolment))
        latest = max(latest, due)
    opens = due if plan.first_strict else add_days(due, -plan.earliest_days)
    return counts_from, opens, due, latest


def _interval(plan: RulePlan, months: int, override: int | None) -> tuple[int, int, str]:
    if override is not None:
        return override, override, f"every {override} months (changed by a clinician)"
    phase = plan.phase_at(months)
    assert phase is not None, "months is before the end of the schedule"
    return phase.low, phase.high, phase.label


def _first(plan: RulePlan, anchor: date, amount: int) -> date:
    return add_days(anchor, 7 * amount) if plan.first_in_weeks else add_months(anchor, amount)
