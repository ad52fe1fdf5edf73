"""Quiet hours in the recipient's zone, deferred to the next allowed instant, across DST."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.quiet_hours import allowed_at, next_allowed

NY, MADRID = ZoneInfo("America/New_York"), ZoneInfo("Europe/Madrid")
EIGHT, NINE_PM = time(8, 0), time(21, 0)


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)


@pytest.mark.parametrize(
    ("zone", "now_local", "expected_local"),
    [
        # New York spring forward: 2027-03-14 02:00 EST -> 03:00 EDT
        (NY, (2027, 3, 14, 1, 30), (2027, 3, 14, 8, 0)),
        (NY, (2027, 3, 13, 22, 0), (2027, 3, 14, 8, 0)),
        (NY, (2027, 3, 14, 12, 0), (2027, 3, 14, 12, 0)),
        # New York fall back: 2027-11-07 02:00 EDT -> 01:00 EST (a 25-hour night)
        (NY, (2027, 11, 6, 23, 30), (2027, 11, 7, 8, 0)),
        (NY, (2027, 11, 7, 7, 59), (2027, 11, 7, 8, 0)),
        (NY, (2027, 11, 7, 21, 0), (2027, 11, 8, 8, 0)),
        # Madrid: spring forward 2027-03-28 02:00 -> 03:00, fall back 2027-10-31 03:00 -> 02:00
        (MADRID, (2027, 3, 27, 21, 30), (2027, 3, 28, 8, 0)),
        (MADRID, (2027, 10, 31, 2, 30), (2027, 10, 31, 8, 0)),
        (MADRID, (2027, 10, 30, 20, 59), (2027, 10, 30, 20, 59)),
    ],
)
def test_deferred_to_eight_local_across_dst(
    zone: ZoneInfo, now_local: tuple[int, ...], expected_local: tuple[int, ...]
) -> None:
    now = local(zone, *now_local).astimezone(UTC)
    result = next_allowed(now, zone, EIGHT, NINE_PM)
    assert result.astimezone(zone).replace(tzinfo=None) == datetime(*expected_local)


def test_utc_gap_across_spring_forward_is_one_hour_shorter() -> None:
    # 22:00 EST on the 13th to 08:00 EDT on the 14th is 9 hours, not 10.
    now = local(NY, 2027, 3, 13, 22, 0)
    assert next_allowed(now, NY, EIGHT, NINE_PM) - now == timedelta(hours=9)


def test_fall_back_night_is_one_hour_longer() -> None:
    now = local(NY, 2027, 11, 6, 22, 0)
    assert next_allowed(now, NY, EIGHT, NINE_PM) - now == timedelta(hours=11)


def test_window_opening_inside_a_dst_gap_moves_to_the_first_real_instant() -> None:
    # Quiet until 02:30, a wall time that does not exist on spring-forward day.
    now = local(NY, 2027, 3, 14, 1, 0)
    result = next_allowed(now, NY, time(2, 30), NINE_PM).astimezone(NY)
    assert (result.hour, result.minute) == (3, 30)
    assert allowed_at(result, NY, time(2, 30), NINE_PM)


def test_equal_start_and_end_means_no_quiet_hours() -> None:
    now = local(NY, 2027, 3, 14, 3, 0)
    assert next_allowed(now, NY, time(0, 0), time(0, 0)) == now


def test_florida_style_earlier_end() -> None:
    now = local(NY, 2027, 6, 1, 20, 30)
    assert next_allowed(now, NY, EIGHT, time(20, 0)).astimezone(NY).day == 2


instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2029, 1, 1), timezones=st.just(UTC)
)
zones = st.sampled_from([NY, MADRID, ZoneInfo("Australia/Lord_Howe"), ZoneInfo("UTC")])


@settings(max_examples=300, deadline=None)
@given(now=instants, zone=zones)
def test_next_allowed_is_allowed_and_nothing_earlier_is(now: datetime, zone: ZoneInfo) -> None:
    result = next_allowed(now, zone, EIGHT, NINE_PM)
    assert result >= now
    assert allowed_at(result, zone, EIGHT, NINE_PM)
    assert result - now < timedelta(hours=12)  # the longest quiet night (11 h + DST hour)
    if result > now:  # every minute before the opening is quiet
        probe = result - timedelta(minutes=1)
        assert probe < now or not allowed_at(probe, zone, EIGHT, NINE_PM)
        assert result.astimezone(zone).time() == EIGHT
