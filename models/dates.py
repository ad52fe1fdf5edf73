"""Calendar arithmetic for surveillance clocks, as immunisation forecasters (CDC CDSi) do it."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def add_months(day: date, months: int) -> date:
    """Add whole months: month and year change, the day does not.

    An invalid result (31 September, 29 February in a common year) rolls to the first of the
    next month, as CDSi specifies. `months` may be negative.
    """
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    try:
        return date(year, month0 + 1, day.day)
    except ValueError:
        return date(year + (month0 + 1) // 12, (month0 + 1) % 12 + 1, 1)


def add_years(day: date, years: int) -> date:
    """Add whole years (12 months each), with the same month-end rule as `add_months`."""
    return add_months(day, 12 * years)


def add_days(day: date, days: int) -> date:
    """Add calendar days (negative allowed)."""
    return day + timedelta(days=days)


def months_between(start: date, end: date) -> int:
    """Whole months from `start` to `end` (0 if `end` is before `start` plus one month)."""
    months = (end.year - start.year) * 12 + (end.month - start.month)
    if add_months(start, months) > end:
        months -= 1
    return max(months, 0)


def local_date(moment: datetime, zone: str) -> date:
    """The calendar date of an aware instant in the IANA `zone` (the patient's day)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every instant must carry its time zone")
    return moment.astimezone(ZoneInfo(zone)).date()


def start_of_day(day: date, zone: str) -> datetime:
    """00:00 local time of `day` in `zone`, as an aware datetime (DST-safe)."""
    return datetime.combine(day, time(0, 0), tzinfo=ZoneInfo(zone))


def at_local(day: date, clock: time, zone: str) -> datetime:
    """`clock` o'clock on `day` in `zone`; a time skipped by a DST change moves forward."""
    aware = datetime.combine(day, clock, tzinfo=ZoneInfo(zone))
    # Round-tripping through UTC normalises a wall time in a spring-forward gap (fold=0 reads
    # it with the offset before the change): 02:30 that never happened becomes 03:30.
    return aware.astimezone(ZoneInfo("UTC")).astimezone(ZoneInfo(zone))
