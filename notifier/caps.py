"""SMS frequency caps (TCPA healthcare exemption): per local calendar day and ISO week."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class CapBlock:
    until: datetime  # UTC instant the cap lifts (next local midnight or next local Monday)
    reason: str


def _local_start(day: datetime, zone: ZoneInfo) -> datetime:
    return datetime.combine(day.date(), time(0), tzinfo=zone).astimezone(UTC)


def sms_cap_block(
    now: datetime,
    zone: ZoneInfo,
    sent: Iterable[datetime],
    daily_cap: int,
    weekly_cap: int,
) -> CapBlock | None:
    """None if one more SMS fits, else when the cap lifts.

    Day = the recipient's local calendar day; week = local Monday 00:00 to the next Monday.
    """
    local = now.astimezone(zone)
    day_start = _local_start(local, zone)
    next_day = _local_start(local + timedelta(days=1), zone)
    monday = local - timedelta(days=local.weekday())
    week_start = _local_start(monday, zone)
    next_week = _local_start(monday + timedelta(days=7), zone)
    times = [moment for moment in sent if week_start <= moment < next_week]
    if len(times) >= weekly_cap:
        return CapBlock(next_week, f"weekly SMS cap reached ({len(times)} of {weekly_cap})")
    today = sum(1 for moment in times if day_start <= moment < next_day)
    if today >= daily_cap:
        return CapBlock(next_day, f"daily SMS cap reached ({today} of {daily_cap})")
    return None
