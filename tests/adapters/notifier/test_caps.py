"""SMS caps: 1 a day and 3 a week, days and weeks in the recipient's zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.caps import sms_cap_block

NY = ZoneInfo("America/New_York")


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


def test_first_sms_of_the_day_fits() -> None:
    assert sms_cap_block(ny(2027, 3, 10, 9), NY, [], 1, 3) is None


def test_second_sms_same_local_day_waits_for_local_midnight() -> None:
    block = sms_cap_block(ny(2027, 3, 10, 20), NY, [ny(2027, 3, 10, 9)], 1, 3)
    assert block is not None and block.until == ny(2027, 3, 11, 0)
    assert "daily" in block.reason


def test_same_utc_day_but_different_local_day_is_allowed() -> None:
    # 2027-03-11 03:00 UTC is still the 10th in New York; 01:00 UTC on the 10th was the 9th.
    sent = [datetime(2027, 3, 10, 1, 0, tzinfo=UTC)]
    assert sms_cap_block(datetime(2027, 3, 10, 14, tzinfo=UTC), NY, sent, 1, 3) is None


def test_fourth_sms_in_a_week_waits_for_local_monday() -> None:
    sent = [ny(2027, 3, 8, 9), ny(2027, 3, 9, 9), ny(2027, 3, 10, 9)]  # Mon, Tue, Wed
    block = sms_cap_block(ny(2027, 3, 11, 9), NY, sent, 1, 3)
    assert block is not None and block.until == ny(2027, 3, 15, 0)
    assert "weekly" in block.reason


def test_new_week_resets_the_count_even_across_a_dst_change() -> None:
    # Week of Mon 8 March 2027; DST starts Sunday 14 March. Monday 15th is a new week.
    sent = [ny(2027, 3, 12, 9), ny(2027, 3, 13, 9), ny(2027, 3, 14, 9)]
    assert sms_cap_block(ny(2027, 3, 14, 23, 59), NY, sent, 1, 3) is not None
    assert sms_cap_block(ny(2027, 3, 15, 0, 0), NY, sent, 1, 3) is None


def test_week_boundary_is_local_monday_not_utc() -> None:
    sent = [ny(2027, 3, 8, 9), ny(2027, 3, 9, 9), ny(2027, 3, 10, 9)]
    sunday_night_local = ny(2027, 3, 14, 22)  # already Monday 02:00 in UTC
    assert sms_cap_block(sunday_night_local, NY, sent, 1, 3) is not None


@settings(max_examples=150, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 1)),
    gaps=st.lists(st.integers(min_value=1, max_value=60 * 30), min_size=1, max_size=40),
)
def test_greedy_sender_never_exceeds_caps(start: datetime, gaps: list[int]) -> None:
    """Whatever the request times, accepted sends respect 1/local day and 3/local week."""
    now, sent = start.replace(tzinfo=NY).astimezone(UTC), []
    for minutes in gaps:
        now += timedelta(minutes=minutes * 10)
        if sms_cap_block(now, NY, sent, 1, 3) is None:
            sent.append(now)
    days = [s.astimezone(NY).date() for s in sent]
    weeks = [d.isocalendar()[:2] for d in days]
    assert len(days) == len(set(days))
    assert all(weeks.count(w) <= 3 for w in weeks)
