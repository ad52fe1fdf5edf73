"""next_window: phases, fixed offsets, month ends, leap days, end of schedule, overrides."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.dates import add_months
from models.protocols import Rule, Window, next_window
from remission_watch.protocol_files import load_builtin_catalog


def make_rule(**schedule: Any) -> Rule:
    fields: dict[str, Any] = {
        "id": "item",
        "label": "Item",
        "category": "visit",
        "source": "Test guideline",
        "date": date(2012, 11, 5),
        "satisfied_by": {"items": ["item"]},
    }
    fields.update(schedule)
    return Rule.model_validate(fields)


ASCO_VISITS = make_rule(
    phases=[
        {"from_years": 0, "to_years": 3, "every_months": [3, 6]},
        {"from_years": 3, "to_years": 5, "every_months": [6, 12]},
        {"from_years": 5, "to_years": None, "every_months": [12, 12]},
    ]
)
DLBCL_CT = make_rule(at_months=[6, 12, 24], window={"earliest_days": 30, "grace_days": 30})
ANCHOR = date(2024, 1, 15)


def test_the_first_window_counts_from_the_anchor() -> None:
    window = next_window(ASCO_VISITS, ANCHOR, None)
    assert window == Window(
        earliest=date(2024, 4, 1),
        due=date(2024, 4, 15),
        overdue=date(2024, 7, 22),
        phase="years 1-3: every 3-6 months",
        source="Test guideline (2012-11-05)",
    )


def test_a_visit_before_the_anchor_does_not_count() -> None:
    assert next_window(ASCO_VISITS, ANCHOR, date(2023, 12, 1)) == next_window(
        ASCO_VISITS, ANCHOR, None
    )


def test_later_windows_count_from_the_last_visit() -> None:
    window = next_window(ASCO_VISITS, ANCHOR, date(2024, 5, 2))
    assert window is not None
    assert (window.due, window.overdue) == (date(2024, 8, 2), date(2024, 11, 9))


@pytest.mark.parametrize(
    ("last_done", "due", "phase"),
    [
        # One day short of 3 years: still years 1-3, every 3 months.
        (date(2027, 1, 14), date(2027, 4, 14), "years 1-3: every 3-6 months"),
        # Exactly 3 years: years 4-5, every 6 months.
        (date(2027, 1, 15), date(2027, 7, 15), "years 4-5: every 6-12 months"),
        (date(2029, 1, 14), date(2029, 7, 14), "years 4-5: every 6-12 months"),
        (date(2029, 1, 15), date(2030, 1, 15), "from year 6: every 12 months"),
        (date(2040, 6, 1), date(2041, 6, 1), "from year 6: every 12 months"),
    ],
)
def test_the_phase_is_the_one_the_last_visit_falls_in(
    last_done: date, due: date, phase: str
) -> None:
    window = next_window(ASCO_VISITS, ANCHOR, last_done)
    assert window is not None
    assert (window.due, window.phase) == (due, phase)


def test_a_month_end_anchor_rolls_to_the_first_of_the_next_month() -> None:
    six_monthly = make_rule(phases=[{"from_years": 0, "to_years": None, "every_months": [6, 6]}])
    window = next_window(six_monthly, date(2023, 8, 31), None)
    assert window is not None
    # 31 August + 6 months is "31 February": CDSi rolls it to 1 March.
    assert window.due == date(2024, 3, 1) == add_months(date(2023, 8, 31), 6)
    assert window.overdue == date(2024, 3, 8)


def test_a_leap_day_anchor_plus_a_year_is_the_first_of_march() -> None:
    yearly = make_rule(phases=[{"from_years": 0, "to_years": None, "every_months": [12, 12]}])
    window = next_window(yearly, date(2024, 2, 29), None)
    assert window is not None
    assert window.due == date(2025, 3, 1)
    later = next_window(yearly, date(2024, 2, 29), date(2027, 2, 28))
    assert later is not None
    assert later.due == date(2028, 2, 28)


@pytest.mark.parametrize(
    ("last_done", "due"),
    [
        (None, date(2024, 7, 15)),
        # Long before the 6-month window opens: the 6-month scan is still due.
        (date(2024, 3, 1), date(2024, 7, 15)),
        # Inside the 6-month window (opens 30 days before): it counts.
        (date(2024, 6, 20), date(2025, 1, 15)),
        # Late, after the 6-month overdue date: it still stands for the 6-month scan.
        (date(2024, 9, 1), date(2025, 1, 15)),
        (date(2025, 1, 10), date(2026, 1, 15)),
        (date(2025, 12, 20), None),
    ],
)
def test_fixed_offsets_are_used_in_order(last_done: date | None, due: date | None) -> None:
    window = next_window(DLBCL_CT, ANCHOR, last_done)
    assert (window.due if window else None) == due


def test_a_fixed_offset_window_has_its_grace() -> None:
    window = next_window(DLBCL_CT, ANCHOR, None)
    assert window == Window(
        earliest=date(2024, 6, 15),
        due=date(2024, 7, 15),
        overdue=date(2024, 8, 14),
        phase="at 6 months (of 6, 12, 24 months)",
        source="Test guideline (2012-11-05)",
    )


FIVE_YEARS = make_rule(
    phases=[
        {"from_years": 0, "to_years": 2, "every_months": [3, 6]},
        {"from_years": 2, "to_years": 5, "every_months": [6, 6]},
    ]
)


@pytest.mark.parametrize(
    ("last_done", "due"),
    [
        (date(2028, 1, 15), date(2028, 7, 15)),
        (date(2028, 7, 15), date(2029, 1, 15)),  # due exactly at the end: still given
        (date(2028, 7, 16), None),  # due after the end of year 5
        (date(2029, 1, 15), None),  # done at the end
        (date(2031, 1, 1), None),
    ],
)
def test_the_schedule_ends_with_its_last_phase(last_done: date, due: date | None) -> None:
    window = next_window(FIVE_YEARS, ANCHOR, last_done)
    assert (window.due if window else None) == due


def test_until_years_ends_a_rule_early() -> None:
    capped = make_rule(
        phases=[{"from_years": 0, "to_years": None, "every_months": [12, 12]}], until_years=2
    )
    assert next_window(capped, ANCHOR, date(2025, 1, 15)) is not None
    assert next_window(capped, ANCHOR, date(2025, 3, 1)) is None


PSA_AFTER_SURGERY = make_rule(
    first_after_weeks=[6, 13],
    phases=[{"from_years": 0, "to_years": None, "every_months": [6, 12]}],
)


def test_the_first_one_can_be_weeks_after_the_anchor() -> None:
    window = next_window(PSA_AFTER_SURGERY, date(2024, 3, 1), None)
    assert window is not None
    assert window.due == date(2024, 3, 1) + timedelta(weeks=6)
    assert window.overdue == date(2024, 3, 1) + timedelta(weeks=13, days=7)
    assert window.phase == "first one: 6-13 weeks in"


def test_one_done_before_the_first_window_does_not_count() -> None:
    too_early = next_window(PSA_AFTER_SURGERY, date(2024, 3, 1), date(2024, 3, 15))
    assert too_early == next_window(PSA_AFTER_SURGERY, date(2024, 3, 1), None)
    counted = next_window(PSA_AFTER_SURGERY, date(2024, 3, 1), date(2024, 4, 20))
    assert counted is not None
    assert counted.due == date(2024, 10, 20)


def test_an_override_replaces_the_interval() -> None:
    window = next_window(ASCO_VISITS, ANCHOR, date(2030, 5, 10), every_months_override=2)
    assert window is not None
    assert (window.due, window.overdue) == (date(2030, 7, 10), date(2030, 7, 17))
    assert window.phase == "every 2 months (changed by a clinician)"
    first = next_window(ASCO_VISITS, ANCHOR, None, every_months_override=1)
    assert first is not None
    assert first.due == date(2024, 2, 15)


def test_an_override_of_fixed_offsets_runs_until_the_last_offset() -> None:
    window = next_window(DLBCL_CT, ANCHOR, date(2025, 1, 15), every_months_override=3)
    assert window is not None
    assert window.due == date(2025, 4, 15)
    assert next_window(DLBCL_CT, ANCHOR, date(2025, 11, 15), every_months_override=3) is None


def test_shipped_colonoscopy_follows_one_three_five_years() -> None:
    rule = load_builtin_catalog()["colorectal-nccn"].rule("colonoscopy")
    assert rule is not None
    first = next_window(rule, ANCHOR, None)
    assert first is not None
    assert first.due == date(2025, 1, 15)
    second = next_window(rule, ANCHOR, first.due)
    assert second is not None
    assert second.due == date(2028, 1, 15)
    third = next_window(rule, ANCHOR, second.due)
    assert third is not None
    assert third.due == date(2033, 1, 15)


def test_shipped_npm1_mrd_stops_after_24_months() -> None:
    rule = load_builtin_catalog()["aml-eln"].rule("npm1_mrd")
    assert rule is not None
    last = next_window(rule, ANCHOR, date(2025, 10, 15))
    assert last is not None
    assert last.due == date(2026, 1, 15)
    assert next_window(rule, ANCHOR, date(2025, 11, 1)) is None


SHIPPED_RULES = [rule for protocol in load_builtin_catalog() for rule in protocol.items]


@st.composite
def phased_rules(draw: st.DrawFn) -> Rule:
    bounds = sorted(draw(st.sets(st.integers(1, 20), max_size=3)))
    ends: list[int | None] = [*bounds, draw(st.sampled_from([None, 25]))]
    phases = []
    start = 0
    for end in ends:
        low = draw(st.integers(1, 24))
        phases.append(
            {
                "from_years": start,
                "to_years": end,
                "every_months": [low, draw(st.integers(low, 36))],
            }
        )
        if end is not None:
            start = end
    first = draw(st.none() | st.integers(1, 12))
    window = {"earliest_days": draw(st.integers(0, 90)), "grace_days": draw(st.integers(1, 90))}
    extra: dict[str, Any] = {} if first is None else {"first_after_months": [first, first + 3]}
    return make_rule(phases=phases, window=window, **extra)


@st.composite
def offset_rules(draw: st.DrawFn) -> Rule:
    offsets = sorted(draw(st.sets(st.integers(1, 120), min_size=1, max_size=6)))
    window = {"earliest_days": draw(st.integers(0, 90)), "grace_days": draw(st.integers(1, 90))}
    return make_rule(at_months=offsets, window=window)


rules = st.sampled_from(SHIPPED_RULES) | phased_rules() | offset_rules()
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31))


@settings(max_examples=400, deadline=None)
@given(
    rule=rules,
    anchor=days,
    gap=st.none() | st.integers(-400, 12000),
    override=st.none() | st.integers(1, 120),
)
def test_windows_are_ordered_and_after_the_last_time(
    rule: Rule, anchor: date, gap: int | None, override: int | None
) -> None:
    last_done = None if gap is None else anchor + timedelta(days=gap)
    window = next_window(rule, anchor, last_done, override)
    if window is None:
        # Only a schedule with an end can end.
        assert rule.plan.end_month is not None
        return
    assert window.earliest <= window.due < window.overdue
    if last_done is not None:
        assert window.due > last_done
    assert window.due > anchor
    assert window.phase
    assert rule.source in window.source
