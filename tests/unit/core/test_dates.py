from datetime import UTC, date, datetime, time

import pytest

from models.dates import add_days, add_months, at_local, local_date, months_between


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2024, 1, 31), 1, date(2024, 3, 1)),  # 31 Feb is invalid: first of next month
        (date(2023, 1, 31), 1, date(2023, 3, 1)),
        (date(2024, 8, 31), 1, date(2024, 10, 1)),  # 31 September rolls over (CDSi)
        (date(2024, 2, 29), 12, date(2025, 3, 1)),  # leap day plus a year
        (date(2024, 2, 29), 48, date(2028, 2, 29)),
        (date(2024, 5, 15), 6, date(2024, 11, 15)),
        (date(2024, 11, 30), 3, date(2025, 3, 2 - 1)),
        (date(2024, 3, 31), -1, date(2024, 3, 1)),
        (date(2024, 12, 15), 1, date(2025, 1, 15)),
    ],
)
def test_add_months_changes_month_not_day(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


def test_months_between_counts_whole_months() -> None:
    assert months_between(date(2024, 1, 31), date(2024, 3, 1)) == 1
    assert months_between(date(2024, 1, 15), date(2024, 7, 14)) == 5
    assert months_between(date(2024, 1, 15), date(2024, 7, 15)) == 6
    assert add_days(date(2024, 2, 28), 1) == date(2024, 2, 29)


def test_local_date_is_the_patients_day() -> None:
    late_evening_new_york = datetime(2024, 3, 10, 3, 30, tzinfo=UTC)  # 22:30 on the 9th in NY
    assert local_date(late_evening_new_york, "America/New_York") == date(2024, 3, 9)
    assert local_date(late_evening_new_york, "Europe/Madrid") == date(2024, 3, 10)
    with pytest.raises(ValueError, match="naive"):
        local_date(datetime(2024, 1, 1), "UTC")


def test_at_local_across_daylight_saving_changes() -> None:
    # 2024-03-10 02:30 does not exist in New York: it moves forward to 03:30 EDT.
    skipped = at_local(date(2024, 3, 10), time(2, 30), "America/New_York")
    assert skipped.utcoffset() is not None
    assert skipped.astimezone(UTC) == datetime(2024, 3, 10, 7, 30, tzinfo=UTC)
    normal = at_local(date(2024, 3, 11), time(8, 0), "America/New_York")
    assert normal.astimezone(UTC) == datetime(2024, 3, 11, 12, 0, tzinfo=UTC)
    winter = at_local(date(2024, 11, 4), time(8, 0), "America/New_York")
    assert winter.astimezone(UTC) == datetime(2024, 11, 4, 13, 0, tzinfo=UTC)
