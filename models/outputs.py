"""What the core asks of the world outside: remind a patient, cancel a reminder, alert a care team.

These are the payloads of the `reminders` and `alerts` topics. They carry the pseudonymous
`patient_id` only; the notifier looks up contact details, consent and language in its own store.
Ids are derived from content, so a replay or redelivery yields the same id.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from models.ids import derive_id


class Category(StrEnum):
    """What kind of appointment a reminder is about; templates are chosen by it."""

    SCAN = "scan"
    LAB = "lab"
    VISIT = "visit"
    CHECKIN = "checkin"


class ReminderKind(StrEnum):
    DUE = "due"  # sent from the item's earliest date
    OVERDUE = "overdue"  # one nudge once the item is past its overdue date
    CHECKIN = "checkin"  # a fear-of-recurrence check-in (FCR-1r)


class CheckinReason(StrEnum):
    PRE_SCAN = "pre_scan"
    RESULT_PENDING = "result_pending"
    PERIODIC = "periodic"


class AlertKind(StrEnum):
    OVERDUE = "overdue"
    HIGH_FEAR = "high_fear"
    SELF_HARM = "self_harm"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up"
    DELIVERY_FAILED = "delivery_failed"
    MOLECULAR_RELAPSE = "molecular_relapse"  # a confirmed MRD relapse (Heuser 2021, ELN MRD)
    NO_PROTOCOL = "no_protocol"  # enrolled for a site or profile no protocol covers
    UNMAPPED_RESULT = "unmapped_result"  # a lab code that no marker's value set holds
    UNMATCHED_EVENTS = "unmatched_events"  # parked events set aside (models.parking)


class Severity(StrEnum):
    IMMEDIATE = "immediate"
    HIGH = "high"
    ROUTINE = "routine"


class _Output(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    patient_id: str
    schema_version: Literal[1] = 1


class Reminder(_Output):
    """Ask the notifier to remind the patient about one surveillance item."""

    type: Literal["reminder.due"] = "reminder.due"
    reminder_id: str
    item: str
    category: Category
    kind: ReminderKind
    checkin_reason: CheckinReason | None = None  # set when kind is checkin
    earliest: date
    due: date
    overdue: date
    reason: str
    source: str
    protocol: str
    language: str = "en"
    time_zone: str = "UTC"
    emitted_at: AwareDatetime


class ReminderCancelled(_Output):
    """The item was satisfied, rescheduled or stopped before delivery: do not send it."""

    type: Literal["reminder.cancelled"] = "reminder.cancelled"
    reminder_id: str
    reason: str
    emitted_at: AwareDatetime


class CareTeamAlert(_Output):
    """Something a human in the care team must look at, with a deadline to respond."""

    type: Literal["alert.raised"] = "alert.raised"
    alert_id: str
    kind: AlertKind
    severity: Severity
    reason: str
    item: str | None = None
    raised_at: AwareDatetime
    respond_by: AwareDatetime


Output = Annotated[Reminder | ReminderCancelled | CareTeamAlert, Field(discriminator="type")]
_OUTPUT_ADAPTER: TypeAdapter[Output] = TypeAdapter(Output)


def parse_output(raw: str | bytes) -> Output:
    """Validate one `reminders`/`alerts` topic payload; raises pydantic.ValidationError."""
    return _OUTPUT_ADAPTER.validate_json(raw)


def reminder_id(patient_id: str, item: str, due: date, kind: ReminderKind) -> str:
    """The id of a reminder: the same (patient, item, due date, kind) always gives the same id."""
    return derive_id("rem", patient_id, item, due.isoformat(), kind.value)


def alert_id(patient_id: str, kind: AlertKind, key: str) -> str:
    """The id of an alert; `key` is what makes it unique (an item and due date, an event id)."""
    return derive_id("alert", patient_id, kind.value, key)
