"""Small builders shared by the notifier integration tests and nothing else."""

from __future__ import annotations

from datetime import datetime

from models.outputs import Reminder, ReminderCancelled
from notifier.recipient_store import RecipientUpdate, SqlRecipients
from notifier.recipients import Channel, Consent
from notifier.settings import NotifierSettings
from notifier.sinks import HttpSmsSink, SmtpSink
from tests.adapters.notifier.notifier_factories import reminder as reminder  # shared builder

PHONE = "+1 (555) 201-7788"
EMAIL = "pat.smith@patmail.test"
SECRET, TOKEN = "inbound-test-secret-0123456789", "admin-test-token-0123456789"


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
