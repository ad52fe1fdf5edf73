"""Small builders shared by the notifier integration tests and nothing else."""

from __future__ import annotations

from datetime import date, datetime

from models.outputs import Category, Reminder, ReminderCancelled, ReminderKind, reminder_id
from notifier.recipient_store import RecipientUpdate, SqlRecipients
from notifier.recipients import Channel, Consent
from notifier.settings import NotifierSettings
from notifier.sinks import HttpSmsSink, SmtpSink

PHONE = "+1 (555) 201-7788"
EMAIL = "pat.smith@patmail.test"
SECRET, TOKEN = "inbound-test-secret-0123456789", "admin-test-token-0123456789"


def reminder(
    patient_id: str = "p-1",
    item: str = "ct_chest",
    category: Category = Category.SCAN,
    kind: ReminderKind = ReminderKind.DUE,
) -> Reminder:
    due = date(2027, 3, 20)
    return Reminder(
        patient_id=patient_id,
        reminder_id=reminder_id(patient_id, item, due, kind),
        item=item,
        category=category,
        kind=kind,
        earliest=due,
        due=due,
        overdue=due,
        reason="surveillance item due",
        source="test",
        protocol="test-protocol",
        emitted_at=datetime.fromisoformat("2027-03-10T12:00:00+00:00"),
    )


def cancellation(of: Reminder) -> ReminderCancelled:
    return ReminderCancelled(
        patient_id=of.patient_id,
        reminder_id=of.reminder_id,
        reason="done",
        emitted_at=of.emitted_at,
    )


def enrol(
    recipients: SqlRecipients,
    now: datetime,
    patient_id: str = "p-1",
    phone: str | None = PHONE,
    email: str | None = EMAIL,
    order: tuple[Channel, ...] = (Channel.SMS, Channel.EMAIL),
) -> None:
    recipients.upsert(
        patient_id,
        RecipientUpdate(
            phone=phone, email=email, time_zone="America/New_York", channel_order=order
        ),
        now,
    )
    for channel in (Channel.SMS, Channel.EMAIL):
        recipients.record_consent(patient_id, Consent(channel, True, "form", now, True), now)


def make_settings(
    database_url: str, smtp: SmtpSink, sms: HttpSmsSink, **extra: object
) -> NotifierSettings:
    return NotifierSettings(
        database_url=database_url,
        allow_dev_key=True,
        inbound_secret=SECRET,  # type: ignore[arg-type]
        admin_token=TOKEN,  # type: ignore[arg-type]
        email_url=smtp.url(),
        sms_url=sms.url(),
        care_team_urls=[smtp.url("alerts@example.org").replace("?", "/care-team@clinic.test?")],
        clinic_name="Riverside Clinic",
        callback_number="+1 555 0100",
        **extra,  # type: ignore[arg-type]
    )
