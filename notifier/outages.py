"""When channels fail: why, in words; until when a reminder is worth retrying; and one care-team
notice per outage instead of one alert per reminder.

An outage starts when `OUTAGE_AFTER` patient sends in a row have failed at the provider (not a
refusal, a missing address or an unconfigured channel) and ends at the next patient send that
succeeds. Its start and its end are each told to the care team once (`OutageNotices`); the
reminders whose window closed during it are listed in the end notice, not alerted one by one.
Each notifier replica keeps its own state: N replicas send at most N notices per outage, and
each notice names the replica that sends it, so that the care team can tell them apart.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from models.outputs import Reminder, ReminderKind, parse_output
from models.templates import Message
from notifier.channels import WRONG_TARGET
from notifier.recipients import Recipient

OUTAGE_AFTER = 3  # patient sends failing in a row, none succeeding, before it is an outage
OVERDUE_REMINDER_USEFUL = timedelta(days=14)  # an overdue reminder is retried this long
NOT_AN_OUTAGE = frozenset({WRONG_TARGET, "NO_ADDRESS", "NOT_CONFIGURED"})

_STATUS_WORDS = {
    "NOT_CONFIGURED": "no {channel} channel configured",
    "NO_ADDRESS": "no {channel} contact on file",
    "FAILURE": "the {channel} provider refused or failed",
    "TIMEOUT": "the {channel} provider timed out",
    "ERROR": "the {channel} provider could not be reached",
    "NOMATCH": "no {channel} service matched",
    WRONG_TARGET: "refused: {service}",
}


def failure_in_words(results: list[dict[str, Any]]) -> str:
    """`sms: the sms provider refused or failed; email: no email channel configured`."""
    parts = []
    for result in results:
        channel = str(result["channel"]).replace("care_team", "care-team")
        for service in result["services"]:
            status = str(service["status"]).split(":")[0]
            words = _STATUS_WORDS.get(status, "{channel} failed ({status})")
            parts.append(words.format(channel=channel, service=service["service"], status=status))
    return "; ".join(parts) or "no channel was tried"


def reminder_horizon(payload: str | None, recipient: Recipient | None) -> datetime | None:
    """The instant after which retrying a reminder no longer helps: the end of its overdue date
    (local midnight after it) in the patient's zone; for an overdue reminder, 14 days after it
    was emitted. None if the payload is not a reminder."""
    if not payload:
        return None
    output = parse_output(payload)
    if not isinstance(output, Reminder):
        return None
    if output.kind is ReminderKind.OVERDUE:
        return output.emitted_at.astimezone(UTC) + OVERDUE_REMINDER_USEFUL
    zone = ZoneInfo((recipient.time_zone if recipient else None) or output.time_zone)
    last_day = max(output.overdue, output.due)
    return datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)


@dataclass
class Outage:
    started: datetime
    channels: set[str]
    failed_sends: int = 0
    ended: datetime | None = None
    closed_windows: list[str] = field(default_factory=list)  # "patient_id item"
    reporter: str = ""  # the notifier replica that saw it


@dataclass(frozen=True)
class Notice:
    kind: str  # "started" | "recovered"
    outage: Outage
    message: Message


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


class OutageNotices:
    """The outage state of one dispatcher and the notices still to send (thread-safe)."""

    def __init__(self, threshold: int = OUTAGE_AFTER, reporter: str = "") -> None:
        self.threshold, self.reporter = threshold, reporter
        self._lock = threading.Lock()
        self._in_a_row = 0
        self._first_failure: datetime | None = None
        self._seen: set[str] = set()
        self.current: Outage | None = None
        self._queue: list[Notice] = []

    def failed(self, channels: tuple[str, ...], now: datetime) -> None:
        with self._lock:
            self._in_a_row += 1
            self._seen.update(channels)
            self._first_failure = self._first_failure or now
            if self.current is not None:
                self.current.failed_sends += 1
                self.current.channels.update(channels)
            elif self._in_a_row >= self.threshold:
                self.current = Outage(
                    self._first_failure, set(self._seen), self._in_a_row, reporter=self.reporter
                )
                self._queue.append(Notice("started", self.current, _started(self.current)))

    def recovered(self, now: datetime) -> None:
        with self._lock:
            self._in_a_row, self._first_failure, self._seen = 0, None, set()
            if self.current is None:
                return
            outage, self.current = self.current, None
            outage.ended = now
            self._queue.append(Notice("recovered", outage, _recovered(outage)))

    def during_outage(self, row: Any) -> bool:
        """Note a reminder given up during the current outage; False if there is none."""
        with self._lock:
            if self.current is None:
                return False
            item = ""
            if row.payload:
                output = parse_output(row.payload)
                item = f" {output.item}" if isinstance(output, Reminder) else ""
            self.current.closed_windows.append(f"{row.patient_id}{item}")
            return True

    def pending(self) -> list[Notice]:
        with self._lock:
            # a recovery notice is rebuilt when sent: it lists what happened up to the end
            return [
                Notice(n.kind, n.outage, _recovered(n.outage)) if n.kind == "recovered" else n
                for n in self._queue
            ]

    def delivered(self, notice: Notice) -> None:
        with self._lock:
            self._queue = [
                n for n in self._queue if not (n.kind == notice.kind and n.outage is notice.outage)
            ]


def _started(outage: Outage) -> Message:
    channels = ", ".join(sorted(outage.channels))
    subject = f"[high] Patient messages failing since {_when(outage.started)} ({channels})"
    body = "\n".join(
        [
            "Messages to patients are failing at the provider.",
            "",
            f"Channels: {channels}",
            f"Since: {_when(outage.started)}",
            f"Failed sends so far: {outage.failed_sends}",
            "",
            "Reminders wait and are retried (at most an hour apart) until their due window",
            "closes; nothing is dropped while they wait. The notifier's /healthz shows the state.",
            "One notice per outage: another follows when sending works again.",
            *_reported_by(outage),
        ]
    )
    return Message(subject, body)


def _reported_by(outage: Outage) -> list[str]:
    if not outage.reporter:
        return []
    return [
        "",
        f"Reported by notifier replica {outage.reporter}; with several replicas, each one",
        "reports the outages it sees itself (the same outage may be told once per replica).",
    ]


def _recovered(outage: Outage) -> Message:
    end = outage.ended or outage.started
    closed = outage.closed_windows
    lines = [
        "Messages to patients are being delivered again.",
        "",
        f"Outage: {_when(outage.started)} to {_when(end)} ({', '.join(sorted(outage.channels))})",
        f"Failed sends during it (retried): {outage.failed_sends}",
        f"Reminders whose window closed during it, not sent: {len(closed)}",
        *[f"  - {entry}" for entry in closed],
        *_reported_by(outage),
    ]
    subject = f"[info] Patient messages recovered at {_when(end)}"
    return Message(subject, "\n".join(lines))
