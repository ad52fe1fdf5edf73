"""`SqlRecipients`: contacts (encrypted), preferences and consent history, by patient_id."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time
from typing import Protocol

from sqlalchemy import Engine, select, update

from notifier.contacts import canonical_email, canonical_phone
from notifier.crypto import ContactCipher
from notifier.database import insert_for
from notifier.recipients import Channel, Consent, Recipient, format_hhmm, parse_hhmm
from notifier.tables import AuditRow, ConsentRow, RecipientRow


@dataclass(frozen=True)
class RecipientUpdate:
    """Fields to set; None leaves a field as it is (a new recipient gets the defaults)."""

    phone: str | None = None
    email: str | None = None
    time_zone: str | None = None
    language: str | None = None
    window_start: time | None = None  # the daily sending window, local time
    window_end: time | None = None
    channel_order: tuple[Channel, ...] | None = None


class Recipients(Protocol):
    def upsert(self, patient_id: str, change: RecipientUpdate, now: datetime) -> None: ...
    def get_many(self, patient_ids: Iterable[str]) -> dict[str, Recipient]: ...
    def find_by_phone(self, phone: str) -> str | None: ...
    def record_consent(self, patient_id: str, consent: Consent, now: datetime) -> None: ...


class SqlRecipients:
    def __init__(self, engine: Engine, cipher: ContactCipher) -> None:
        self.engine = engine
        self.cipher = cipher
        self._insert = insert_for(engine)

    def upsert(self, patient_id: str, change: RecipientUpdate, now: datetime) -> None:
        values: dict[str, object] = {"updated_at": now}
        if change.phone is not None:
            phone = canonical_phone(change.phone)  # ContactError: refused, nothing stored
            values["phone_token"] = self.cipher.encrypt(phone)
            values["phone_hash"] = self.cipher.phone_hash(phone)
        if change.email is not None:
            values["email_token"] = self.cipher.encrypt(canonical_email(change.email))
        for name in ("time_zone", "language"):
            if getattr(change, name) is not None:
                values[name] = getattr(change, name)
        # the columns keep their first names: they hold the *sending* window's bounds
        if change.window_start is not None:
            values["quiet_start"] = format_hhmm(change.window_start)
        if change.window_end is not None:
            values["quiet_end"] = format_hhmm(change.window_end)
        if change.channel_order is not None:
            values["channel_order"] = ",".join(change.channel_order)
        table = RecipientRow.__table__
        defaults = {"patient_id": patient_id, "created_at": now, "time_zone": None}
        defaults |= {"language": "en", "channel_order": "sms,email"}
        stmt = self._insert(table).values(defaults | values)
        stmt = stmt.on_conflict_do_update(index_elements=[table.c.patient_id], set_=values)
        changed = ", ".join(sorted(k for k in values if k not in ("updated_at", "phone_hash")))
        with self.engine.begin() as conn:
            conn.execute(stmt)
            conn.execute(
                AuditRow.__table__.insert(),
                [_audit(now, patient_id, "recipient_updated", f"fields: {changed}")],
            )

    def get(self, patient_id: str) -> Recipient | None:
        return self.get_many([patient_id]).get(patient_id)

    def get_many(self, patient_ids: Iterable[str]) -> dict[str, Recipient]:
        ids = list(set(patient_ids))
        if not ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(select(RecipientRow).where(RecipientRow.patient_id.in_(ids))).all()
            consents = conn.execute(
                select(ConsentRow)
                .where(ConsentRow.patient_id.in_(ids))
                .order_by(ConsentRow.occurred_at, ConsentRow.id)
            ).all()
        latest: dict[str, dict[Channel, Consent]] = {pid: {} for pid in ids}
        for row in consents:
            channel = Channel(row.channel)
            latest[row.patient_id][channel] = Consent(
                channel, row.granted, row.method, row.occurred_at, row.unencrypted_ack
            )
        return {row.patient_id: self._recipient(row, latest[row.patient_id]) for row in rows}

    def _recipient(self, row: RecipientRow, consents: dict[Channel, Consent]) -> Recipient:
        return Recipient(
            patient_id=row.patient_id,
            phone=self.cipher.decrypt(row.phone_token) if row.phone_token else None,
            email=self.cipher.decrypt(row.email_token) if row.email_token else None,
            time_zone=row.time_zone,
            language=row.language,
            window_start=parse_hhmm(row.quiet_start),
            window_end=parse_hhmm(row.quiet_end),
            channel_order=tuple(Channel(c) for c in row.channel_order.split(",") if c),
            consents=consents,
        )

    def find_by_phone(self, phone: str) -> str | None:
        """The patient whose phone has this keyed hash: no row is decrypted to find it."""
        digest = self.cipher.phone_hash(phone)
        with self.engine.connect() as conn:
            return conn.execute(
                select(RecipientRow.patient_id).where(RecipientRow.phone_hash == digest).limit(1)
            ).scalar()

    def record_consent(self, patient_id: str, consent: Consent, now: datetime) -> None:
        verb = "given" if consent.granted else "revoked"
        ack = ", unencrypted risk acknowledged" if consent.unencrypted_ack else ""
        when = consent.occurred_at.isoformat(timespec="minutes")
        reason = f"{consent.channel} consent {verb} via {consent.method} at {when}{ack}"
        with self.engine.begin() as conn:
            conn.execute(
                ConsentRow.__table__.insert(),
                [
                    {
                        "patient_id": patient_id,
                        "channel": consent.channel.value,
                        "granted": consent.granted,
                        "method": consent.method,
                        "unencrypted_ack": consent.unencrypted_ack,
                        "occurred_at": consent.occurred_at,
                        "recorded_at": now,
                    }
                ],
            )
            conn.execute(AuditRow.__table__.insert(), [_audit(now, patient_id, "consent", reason)])

    def rotate_keys(self) -> int:
        """Re-encrypt every contact under the primary key and refresh the look-up hashes."""
        count = 0
        with self.engine.begin() as conn:
            for row in conn.execute(select(RecipientRow)).all():
                values: dict[str, object] = {}
                if row.phone_token:
                    values["phone_token"] = self.cipher.rotate(row.phone_token)
                    values["phone_hash"] = self.cipher.phone_hash(
                        self.cipher.decrypt(row.phone_token)
                    )
                if row.email_token:
                    values["email_token"] = self.cipher.rotate(row.email_token)
                if values:
                    conn.execute(
                        update(RecipientRow.__table__)
                        .where(RecipientRow.__table__.c.patient_id == row.patient_id)
                        .values(**values)
                    )
                    count += 1
        return count


def _audit(now: datetime, patient_id: str, action: str, reason: str) -> dict[str, object]:
    return {
        "at": now,
        "patient_id": patient_id,
        "reminder_id": None,
        "action": action,
        "reason": reason,
    }
