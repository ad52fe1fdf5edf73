"""`AdminService`: recipients, consent and the "why" view; shared by the CLI and the HTTP API."""

from __future__ import annotations

import json
import re
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from models.outputs import CareTeamAlert, Category, Reminder, ReminderKind, parse_output
from models.templates import LANGUAGES
from notifier.clock import Clock
from notifier.contacts import canonical_email, canonical_phone
from notifier.outbox import SqlOutbox
from notifier.recipient_store import RecipientUpdate, SqlRecipients
from notifier.recipients import PATIENT_CHANNELS, Channel, Consent, Recipient

# docs/wire-format.md: a pseudonym, never a name, an MRN with spaces or an e-mail address.
PATIENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
CONSENT_CLOCK_SKEW = timedelta(minutes=5)  # a consent may not be dated later than now + this


def check_patient_id(patient_id: str) -> str:
    if not re.fullmatch(PATIENT_ID_PATTERN, patient_id):
        raise ValueError(
            "patient id must be a pseudonym: 1-64 letters, digits, '.', '_', ':' or '-', "
            "starting with a letter or digit (docs/wire-format.md)"
        )
    return patient_id


class RecipientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    time_zone: str | None = None
    language: str | None = Field(default=None, max_length=8)
    # the daily window in which messages may go out, recipient's local time
    send_window_start: time | None = Field(
        default=None, validation_alias=AliasChoices("send_window_start", "quiet_start")
    )
    send_window_end: time | None = Field(
        default=None, validation_alias=AliasChoices("send_window_end", "quiet_end")
    )
    channel_order: list[Channel] | None = None

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError("unknown IANA time zone") from exc
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.lower() not in LANGUAGES:
            raise ValueError(f"language must be one with message texts: {', '.join(LANGUAGES)}")
        return value.lower()

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else canonical_phone(value)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else canonical_email(value)

    @field_validator("channel_order")
    @classmethod
    def _patient_channels(cls, value: list[Channel] | None) -> list[Channel] | None:
        if value is not None and not set(value) <= set(PATIENT_CHANNELS):
            raise ValueError("channel_order may hold only sms and email")
        return value


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    granted: bool
    method: str = Field(min_length=1, max_length=100)
    occurred_at: AwareDatetime | None = None
    unencrypted_ack: bool = False

    @field_validator("channel")
    @classmethod
    def _patient_channel(cls, value: Channel) -> Channel:
        if value not in PATIENT_CHANNELS:
            raise ValueError("consent is recorded for sms or email")
        return value


def mask_phone(phone: str | None) -> str | None:
    return None if not phone else f"on file, ends {phone[-2:]}"


def mask_email(email: str | None) -> str | None:
    return None if not email else "on file"


class AdminService:
    def __init__(self, recipients: SqlRecipients, outbox: SqlOutbox, clock: Clock) -> None:
        self.recipients, self.outbox, self.clock = recipients, outbox, clock

    def upsert_recipient(self, patient_id: str, data: RecipientIn) -> dict[str, Any]:
        check_patient_id(patient_id)
        order = tuple(data.channel_order) if data.channel_order else None
        change = RecipientUpdate(
            data.phone,
            data.email,
            data.time_zone,
            data.language,
            data.send_window_start,
            data.send_window_end,
            order,
        )
        self.recipients.upsert(patient_id, change, self.clock())
        shown = self.show_recipient(patient_id)
        assert shown is not None
        return shown

    def show_recipient(self, patient_id: str) -> dict[str, Any] | None:
        recipient = self.recipients.get(patient_id)
        return None if recipient is None else _shown(recipient)

    def record_consent(self, patient_id: str, data: ConsentIn) -> dict[str, Any]:
        check_patient_id(patient_id)
        if self.recipients.get(patient_id) is None:
            raise LookupError("no such recipient")
        now = self.clock()
        if data.occurred_at is not None and data.occurred_at > now + CONSENT_CLOCK_SKEW:
            raise ValueError("consent cannot be dated in the future")
        consent = Consent(
            data.channel, data.granted, data.method, data.occurred_at or now, data.unencrypted_ack
        )
        self.recipients.record_consent(patient_id, consent, now)
        shown = self.show_recipient(patient_id)
        assert shown is not None
        return shown

    def deliveries(self, patient_id: str) -> list[dict[str, Any]]:
        """Each delivery: what it was about (item, due date, kind), by which channel, its status
        and the reason in words, times in the patient's zone, and its whole decision trail.

        The zone is the recipient's, else the reminder's; "UTC" is used only when neither is
        known, and `time_zone` then says so."""
        check_patient_id(patient_id)
        recipient = self.recipients.get(patient_id)
        rows = self.outbox.deliveries_for(patient_id)
        outputs = {row.reminder_id: _parsed(row.purpose, row.payload) for row in rows}
        zone_name = (recipient.time_zone if recipient else None) or next(
            (o.time_zone for o in outputs.values() if isinstance(o, Reminder)), None
        )
        zone = ZoneInfo(zone_name or "UTC")
        shown_zone = zone_name or "UTC (no zone on file for this patient)"
        trail: dict[str | None, list[dict[str, Any]]] = {}
        for entry in self.outbox.audit_for(patient_id):
            trail.setdefault(entry.reminder_id, []).append(
                {"at": _local(entry.at, zone), "action": entry.action, "reason": entry.reason}
            )
        return [
            {
                "reminder_id": row.reminder_id,
                **_about(row.purpose, outputs[row.reminder_id]),
                "channel": row.channel,
                "status": row.status,
                "why": row.status_reason,
                "attempts": row.attempts,
                "next_attempt_at": _local(row.next_attempt_at, zone)
                if row.status in ("pending", "deferred", "retrying")
                else None,
                "sent_at": _local(row.sent_at, zone),
                "time_zone": shown_zone,
                "provider_result": json.loads(row.provider_result) if row.provider_result else None,
                "trail": trail.get(row.reminder_id, []),
            }
            for row in rows
        ]


def _parsed(purpose: str, payload: str | None) -> Any:
    if not payload:
        return None
    if purpose == "reply":
        return json.loads(payload)
    try:
        return parse_output(payload)
    except ValueError:
        return None


def _about(purpose: str, output: Any) -> dict[str, Any]:
    """`kind` in words, and the item and due date it is about (None when it has none)."""
    if isinstance(output, Reminder):
        if output.kind is ReminderKind.CHECKIN or output.category is Category.CHECKIN:
            kind = f"check-in ({(output.checkin_reason or 'periodic')})"
        else:
            kind = f"reminder: {output.category.value} {output.kind.value}"
        return {"kind": kind, "item": output.item, "due": output.due.isoformat()}
    if isinstance(output, CareTeamAlert):
        return {"kind": f"care-team alert: {output.kind.value}", "item": output.item, "due": None}
    if purpose == "reply" and isinstance(output, dict):
        return {"kind": f"reply: {output.get('kind', '?')}", "item": None, "due": None}
    return {"kind": purpose, "item": None, "due": None}


def _local(value: datetime | None, zone: ZoneInfo) -> str | None:
    return None if value is None else value.astimezone(zone).isoformat(timespec="minutes")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _shown(recipient: Recipient) -> dict[str, Any]:
    """The recipient with contacts masked: admins see that a contact exists, not what it is."""
    return {
        "patient_id": recipient.patient_id,
        "phone": mask_phone(recipient.phone),
        "email": mask_email(recipient.email),
        "time_zone": recipient.time_zone,
        "language": recipient.language,
        "send_window": [
            recipient.window_start.isoformat() if recipient.window_start else None,
            recipient.window_end.isoformat() if recipient.window_end else None,
        ],
        "channel_order": [c.value for c in recipient.channel_order],
        "consents": {
            channel.value: {
                "granted": c.granted,
                "method": c.method,
                "occurred_at": c.occurred_at.isoformat(),
                "unencrypted_ack": c.unencrypted_ack,
            }
            for channel, c in recipient.consents.items()
        },
    }
