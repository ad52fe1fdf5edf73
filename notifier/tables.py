"""The notifier's SQLModel tables. Rows only: no business rules live here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Index, Text, TypeDecorator, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class AwareDateTime(TypeDecorator[datetime]):
    """Stores UTC, returns aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to an aware column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _when(**kwargs: Any) -> Any:
    return Field(sa_type=AwareDateTime, **kwargs)


class NotifierTable(SQLModel, registry=registry()):
    """Base of the notifier's tables: their own metadata, apart from any other package's."""


class RecipientRow(NotifierTable, table=True):
    __tablename__ = "recipients"

    patient_id: str = Field(primary_key=True, max_length=64)
    phone_token: str | None = Field(default=None, sa_type=Text)  # Fernet token
    phone_hash: str | None = Field(default=None, max_length=64, index=True)  # HMAC-SHA256 hex
    email_token: str | None = Field(default=None, sa_type=Text)  # Fernet token
    time_zone: str | None = Field(default=None, max_length=64)  # None: the reminder's zone
    language: str = Field(default="en", max_length=8)
    quiet_start: str | None = Field(default=None, max_length=5)  # "HH:MM", None = default
    quiet_end: str | None = Field(default=None, max_length=5)
    channel_order: str = Field(default="sms,email", max_length=32)
    created_at: datetime = _when()
    updated_at: datetime = _when()


class ConsentRow(NotifierTable, table=True):
    """One consent event (given or revoked) for one channel; the latest per channel counts."""

    __tablename__ = "consents"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: str = Field(max_length=64, index=True)
    channel: str = Field(max_length=16)
    granted: bool
    method: str = Field(max_length=100)  # how: "paper form", "portal", "sms STOP", ...
    unencrypted_ack: bool = False  # told the risk of unencrypted SMS/email and prefers it
    occurred_at: datetime = _when()
    recorded_at: datetime = _when()


class DeliveryRow(NotifierTable, table=True):
    """The outbox: one row per reminder, care-team alert or reply, unique on `reminder_id`."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("reminder_id", name="uq_deliveries_reminder_id"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reminder_id: str = Field(max_length=100)  # reminder id, alert id or reply id
    purpose: str = Field(max_length=20)  # reminder | care_team_alert | reply
    patient_id: str = Field(max_length=64, index=True)
    payload: str | None = Field(default=None, sa_type=Text)  # the inbound JSON; None if unseen
    status: str = Field(max_length=16)
    status_reason: str | None = Field(default=None, sa_type=Text)
    attempts: int = 0
    next_attempt_at: datetime = _when()
    lease_until: datetime | None = _when(default=None)
    attempt_id: str | None = Field(default=None, max_length=100)
    channel: str | None = Field(default=None, max_length=16)
    subject: str | None = Field(default=None, sa_type=Text)
    body: str | None = Field(default=None, sa_type=Text)
    provider_result: str | None = Field(default=None, sa_type=Text)  # JSON, one entry per channel
    created_at: datetime = _when()
    updated_at: datetime = _when()
    sent_at: datetime | None = _when(default=None)


class InboundMessageRow(NotifierTable, table=True):
    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("provider_message_id", name="uq_inbound_provider_id"),)

    id: int | None = Field(default=None, primary_key=True)
    provider_message_id: str = Field(max_length=200)
    patient_id: str = Field(max_length=64, index=True)
    body_token: str = Field(sa_type=Text)  # Fernet token: free text may be sensitive
    action: str = Field(max_length=32)
    score: int | None = None
    event_id: str | None = Field(default=None, max_length=100)
    published_at: datetime | None = _when(default=None)
    received_at: datetime = _when()


class AuditRow(NotifierTable, table=True):
    """Append-only trail of every decision and change: the admin "why" view reads it."""

    __tablename__ = "audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _when()
    patient_id: str = Field(max_length=64, index=True)
    reminder_id: str | None = Field(default=None, max_length=100, index=True)
    action: str = Field(max_length=32)
    reason: str = Field(sa_type=Text)


NOTIFIER_METADATA = NotifierTable.metadata
