"""`SqlInbox`: stores an inbound message and its effects (consent, replies) in one transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update

from models.outputs import Category, Reminder, ReminderKind, parse_output
from notifier.crypto import ContactCipher
from notifier.database import insert_for
from notifier.outbox import audit_values, delivery_values
from notifier.recipients import Consent
from notifier.tables import AuditRow, ConsentRow, DeliveryRow, InboundMessageRow


@dataclass(frozen=True)
class InboundRecord:
    provider_message_id: str
    patient_id: str
    body: str
    action: str
    received_at: datetime
    score: int | None = None
    event_id: str | None = None
    reply_by: str = "sms"  # the channel replies go by: the one the message came by


@dataclass(frozen=True)
class StoredInbound:
    action: str
    event_id: str | None
    published: bool


class SqlInbox:
    def __init__(self, engine: Engine, cipher: ContactCipher) -> None:
        self.engine = engine
        self.cipher = cipher
        self._insert = insert_for(engine)

    def accept(
        self,
        record: InboundRecord,
        replies: Sequence[tuple[str, str]],  # (reply id, MessageKind value)
        consent: Consent | None,
        now: datetime,
    ) -> StoredInbound | None:
        """Store the message with its effects; None if this message id was seen before."""
        table = InboundMessageRow.__table__
        row = {
            "provider_message_id": record.provider_message_id,
            "patient_id": record.patient_id,
            "body_token": self.cipher.encrypt(record.body),
            "action": record.action,
            "score": record.score,
            "event_id": record.event_id,
            "received_at": record.received_at,
        }
        stmt = self._insert(table).on_conflict_do_nothing(
            index_elements=[table.c.provider_message_id]
        )
        pid = record.patient_id
        with self.engine.begin() as conn:
            if conn.execute(stmt.returning(table.c.id), [row]).first() is None:
                return None
            audits = [audit_values(now, pid, None, "inbound", f"reply received: {record.action}")]
            if consent is not None:
                verb = "given" if consent.granted else "revoked"
                conn.execute(ConsentRow.__table__.insert(), [_consent_row(pid, consent, now)])
                reason = f"sms consent {verb} via {consent.method}"
                audits.append(audit_values(now, pid, None, "consent", reason))
            deliveries = DeliveryRow.__table__
            reply_stmt = self._insert(deliveries).on_conflict_do_nothing(
                index_elements=[deliveries.c.reminder_id]
            )
            for reply_id, kind in replies:
                payload = json.dumps(
                    {
                        "kind": kind,
                        "in_reply_to": record.provider_message_id,
                        "reply_by": record.reply_by,
                    }
                )
                conn.execute(reply_stmt, [delivery_values(reply_id, "reply", pid, payload, now)])
                audits.append(audit_values(now, pid, reply_id, "recorded", f"{kind} reply queued"))
            conn.execute(AuditRow.__table__.insert(), audits)
        return StoredInbound(record.action, record.event_id, published=False)

    def seen(self, provider_message_id: str) -> StoredInbound | None:
        table = InboundMessageRow.__table__
        with self.engine.connect() as conn:
            row = conn.execute(
                select(table.c.action, table.c.event_id, table.c.published_at).where(
                    table.c.provider_message_id == provider_message_id
                )
            ).first()
        return None if row is None else StoredInbound(row[0], row[1], row[2] is not None)

    def mark_published(self, provider_message_id: str, now: datetime) -> None:
        table = InboundMessageRow.__table__
        with self.engine.begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.provider_message_id == provider_message_id)
                .values(published_at=now)
            )

    def checkin_sent_since(self, patient_id: str, since: datetime) -> bool:
        """Was a check-in reminder delivered to this patient since `since`?"""
        return self.open_checkin(patient_id, since) is not None

    def open_checkin(self, patient_id: str, since: datetime) -> str | None:
        """The latest check-in reminder delivered to this patient since `since` (its id)."""
        table = DeliveryRow.__table__
        query = (
            select(table.c.payload)
            .where(
                table.c.patient_id == patient_id,
                table.c.purpose == "reminder",
                table.c.status == "sent",
                table.c.sent_at >= since,
            )
            .order_by(table.c.sent_at.desc())
        )
        with self.engine.connect() as conn:
            payloads = [p for (p,) in conn.execute(query) if p]
        reminders = [r for r in map(parse_output, payloads) if isinstance(r, Reminder)]
        checkins = [
            r for r in reminders if r.category is Category.CHECKIN or r.kind is ReminderKind.CHECKIN
        ]
        return checkins[0].reminder_id if checkins else None

    def sent_checkin(self, reminder_id: str) -> str | None:
        """The patient a check-in reminder with this id was sent to, or None (never sent, not
        a check-in, or unknown): what a check-in link may be answered for."""
        table = DeliveryRow.__table__
        query = select(table.c.patient_id, table.c.payload).where(
            table.c.reminder_id == reminder_id,
            table.c.purpose == "reminder",
            table.c.status == "sent",
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None or not row[1]:
            return None
        output = parse_output(row[1])
        if not isinstance(output, Reminder) or not (
            output.category is Category.CHECKIN or output.kind is ReminderKind.CHECKIN
        ):
            return None
        return str(row[0])


def _consent_row(patient_id: str, consent: Consent, now: datetime) -> dict[str, object]:
    return {
        "patient_id": patient_id,
        "channel": consent.channel.value,
        "granted": consent.granted,
        "method": consent.method,
        "unencrypted_ack": consent.unencrypted_ack,
        "occurred_at": consent.occurred_at,
        "recorded_at": now,
    }


CHECKIN_WINDOW = timedelta(days=14)
