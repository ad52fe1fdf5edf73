"""Quiet hours in the recipient's own zone: the next instant a message may go out (DST-safe)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def allowed_at(instant: datetime, zone: ZoneInfo, start: time, end: time) -> bool:
    """True if the local wall time of `instant` is within [start, end); start == end: always."""
    if start == end:
        return True
    local = instant.astimezone(zone).time()
    if start < end:
        return start <= local < end
    return local >= start or local < end  # a window that wraps past midnight


def next_allowed(now: datetime, zone: ZoneInfo, start: time, end: time) -> datetime:
    """`now` if allowed, else the next window opening, in UTC.

    The opening is `start` as wall time on the right local date; if a DST gap swallows that
    wall time (spring forward), the first existing instant after it is used (fold=0 rule).
    """
    if allowed_at(now, zone, start, end):
        return now
    local = now.astimezone(zone)
    day = local.date() if local.time() < start else local.date() + timedelta(days=1)
    opening = datetime.combine(day, start, tzinfo=zone).astimezone(UTC)
    return max(opening, now)


def local_midnight(day_local: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of 00:00 local on `day_local`'s date (the first instant if skipped)."""
    return datetime.combine(day_local.date(), time(0), tzinfo=zone).astimezone(UTC)
