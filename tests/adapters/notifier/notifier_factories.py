"""Builders for the notifier tests: reminders, cancellations, recipients with consent."""

from __future__ import annotations

from datetime import date, datetime

from models.outputs import (
    Category,
    Reminder,
    ReminderCancelled,
    ReminderKind,
    reminder_id,
)
from notifier.recipient_store import RecipientUpdate, SqlRecipients
from notifier.recipients import Channel, Consent

PHONE = "+1 (555) 201-7788"
EMAIL = "pat.smith@example.org"


def reminder(
    patient_id: str = "p-1",
    item: str = "ct_chest",
    due: date = date(2027, 3, 20),
    category: Category = Category.SCAN,
    kind: ReminderKind = ReminderKind.DUE,
    emitted_at: datetime | None = None,
    reason: str = "surveillance CT due",
) -> Reminder:
    return Reminder(
        patient_id=patient_id,
        reminder_id=reminder_id(patient_id, item, due, kind),
        item=item,
        category=category,
        kind=kind,
        earliest=due,
        due=due,
        overdue=due,
        reason=reason,
        source="test",
        protocol="test-protocol",
        emitted_at=emitted_at or datetime.fromisoformat("2027-03-10T12:00:00+00:00"),
    )


def cancellation(of: Reminder, reason: str = "done elsewhere") -> ReminderCancelled:
    return ReminderCancelled(
        patient_id=of.patient_id,
        reminder_id=of.reminder_id,
        reason=reason,
        emitted_at=of.emitted_at,
    )


def enrol(
    recipients: SqlRecipients,
    now: datetime,
    patient_id: str = "p-1",
    phone: str | None = PHONE,
    email: str | None = EMAIL,
    zone: str | None = "America/New_York",
    consent: tuple[Channel, ...] = (Channel.SMS, Channel.EMAIL),
    order: tuple[Channel, ...] = (Channel.SMS, Channel.EMAIL),
) -> None:
    recipients.upsert(
        patient_id,
        RecipientUpdate(phone=phone, email=email, time_zone=zone, channel_order=order),
        now,
    )
    for channel in consent:
        recipients.record_consent(
            patient_id, Consent(channel, True, "paper form", now, unencrypted_ack=True), now
        )
