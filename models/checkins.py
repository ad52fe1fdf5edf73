"""Fear-of-recurrence check-ins: when to ask (FCR-1r, one item, 0-10) and when to escalate.

Sources (docs/sources.md): "scanxiety" peaks before a scan and most while waiting for the result
(mean wait 4 days, range 0-19); check-ins belong in the week before a scan, in the
result-pending window, and periodically after treatment, tapering. FCR-1r >= 5 detected
clinical fear (FCRI-SF >= 22) with sensitivity 93.5%, specificity 80.4%.
"""

from __future__ import annotations

from datetime import date

from models.dates import add_days, add_months

SOURCE = (
    "docs/sources.md (fear of recurrence): Simard 2013; FCR-1r validation; "
    "scanxiety (scan-to-result wait 0-19 days)"
)
HIGH_FEAR_SCORE = 5  # FCR-1r >= 5: clinical fear of recurrence
HIGH_FEAR_RESPONSE_DAYS = 2  # the care team calls back within two days (local policy default)
SELF_HARM_RESPONSE_MINUTES = 60  # a human at once: one hour at most
PRE_SCAN_DAYS = 7  # the week before a scan
RESULT_WAIT_DAYS = 19  # longest scan-to-result wait observed
# Tapering after the end of treatment (months after the surveillance anchor).
PERIODIC_MONTHS = (1, 3, 6, 9, 12, 18, 24, 36, 48, 60)
PERIODIC_WINDOW_DAYS = 14


def needs_alert(score: int, self_harm: bool) -> bool:
    """A check-in answer the care team must see: self-harm, or FCR-1r at or above 5."""
    return self_harm or score >= HIGH_FEAR_SCORE


def pre_scan_window(scan_day: date) -> tuple[date, date, date]:
    """(earliest, due, overdue) of the check-in before a scan on `scan_day` (local dates)."""
    return add_days(scan_day, -PRE_SCAN_DAYS), add_days(scan_day, -2), scan_day


def result_pending_window(scan_day: date) -> tuple[date, date, date]:
    """(earliest, due, overdue) of the check-in while a scan's result is awaited."""
    return add_days(scan_day, 1), add_days(scan_day, 1), add_days(scan_day, RESULT_WAIT_DAYS)


def next_periodic(anchor: date, today: date, last_answer: date | None) -> tuple[date, date] | None:
    """(due, overdue) of the next periodic check-in on or after `today`, or None once tapered off.

    A check-in answered inside a window satisfies it.
    """
    for months in PERIODIC_MONTHS:
        due = add_months(anchor, months)
        overdue = add_days(due, PERIODIC_WINDOW_DAYS)
        if overdue <= today:
            continue
        if last_answer is not None and due <= last_answer < overdue:
            continue
        return due, overdue
    return None
