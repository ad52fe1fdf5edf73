"""`SqlOutbox`: the deliveries table. Recording is idempotent on `reminder_id`; sends are leased."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine, and_, bindparam, func, or_, select, update

from models.outputs import CareTeamAlert, Reminder, ReminderCancelled
from notifier.database import insert_for
from notifier.tables import AuditRow, DeliveryRow

Output = Reminder | ReminderCancelled | CareTeamAlert
WAITING = ("pending", "deferred", "retrying")
FINAL = ("sent", "failed", "suppressed", "cancelled")


@dataclass(frozen=True)
class Claimed:
    """A delivery this worker holds the lease on; finishing it is guarded by `attempt_id`."""

    id: int
    reminder_id: str
    purpose: str
    patient_id: str
    payload: str | None
    attempts: int
    attempt_id: str
    was_stale: bool = False  # a previous holder died mid-send: its outcome is unknown


@dataclass(frozen=True)
class Finish:
    """How a claimed delivery ends this round; `status` is one of WAITING or FINAL."""

    status: str
    reason: str
    next_attempt_at: datetime | None = None
    attempted: bool = False  # counts as an attempt (a provider was called)
    channel: str | None = None
    subject: str | None = None
    body: str | None = None
    provider_result: Sequence[dict[str, Any]] | None = None


@dataclass
class RecordResult:
    recorded: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    duplicates: int = 0


class Outbox(Protocol):
    def record(self, outputs: Sequence[Output], now: datetime) -> RecordResult: ...
    def claim_due(
        self, now: datetime, limit: int, attempt_id: str, lease: timedelta
    ) -> list[Claimed]: ...
    def finish(self, claimed: Claimed, outcome: Finish, now: datetime) -> bool: ...
    def finish_many(self, finished: Sequence[tuple[Claimed, Finish, datetime]]) -> list[bool]: ...
    def sms_sent_since(
        self, patient_ids: Iterable[str], since: datetime
    ) -> dict[str, list[datetime]]: ...


def output_key(output: Output) -> str:
    """The outbox key: the reminder id, or the alert id for a care-team alert."""
    return output.alert_id if isinstance(output, CareTeamAlert) else output.reminder_id


def _unique(items: Iterable[Output]) -> list[Output]:
    seen: dict[str, Output] = {}
    for item in items:
        seen.setdefault(output_key(item), item)
    return list(seen.values())


class SqlOutbox:
    """The outbox on SQLite or PostgreSQL (same statements, dialect-specific INSERT)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = insert_for(engine)

    def record(self, outputs: Sequence[Output], now: datetime) -> RecordResult:
        """Insert reminders/alerts (ON CONFLICT DO NOTHING) and apply cancellations, in one txn."""
        result = RecordResult()
        sendable = _unique(o for o in outputs if not isinstance(o, ReminderCancelled))
        cancels = _unique(o for o in outputs if isinstance(o, ReminderCancelled))
        with self.engine.begin() as conn:
            audits: list[dict[str, Any]] = []
            if sendable:
                rows = conn.execute(self._insert_sendable(), [self._row(o, now) for o in sendable])
                for reminder_id, patient_id, status in rows:
                    if status == "cancelled":
                        reason = "reminder arrived after its cancellation: will not be sent"
                    else:
                        reason = "recorded in outbox"
                        result.recorded.append(reminder_id)
                    audits.append(audit_values(now, patient_id, reminder_id, "recorded", reason))
                result.duplicates = len(sendable) - len(audits)
            if cancels:
                rows = conn.execute(
                    self._insert_cancel(), [self._cancel_row(c, now) for c in cancels]
                )
                for reminder_id, patient_id, reason in rows:
                    result.cancelled.append(reminder_id)
                    audits.append(
                        audit_values(now, patient_id, reminder_id, "cancelled", reason or "")
                    )
                late = [c for c in cancels if c.reminder_id not in set(result.cancelled)]
                audits.extend(self._late_cancels(conn, late, now))
            if audits:
                conn.execute(AuditRow.__table__.insert(), audits)
        return result

    @staticmethod
    def _late_cancels(conn: Any, late: list[Output], now: datetime) -> list[dict[str, Any]]:
        """Cancellations that came after the send started: nothing to stop, but say so."""
        if not late:
            return []
        table = DeliveryRow.__table__
        query = select(table.c.reminder_id, table.c.patient_id, table.c.status).where(
            table.c.reminder_id.in_([output_key(c) for c in late]),
            table.c.status.in_(("sending", "sent")),
        )
        return [
            audit_values(now, pid, rid, "cancel_too_late", f"cancellation arrived while {status}")
            for rid, pid, status in conn.execute(query)
        ]

    def _insert_sendable(self) -> Any:
        table = DeliveryRow.__table__
        stmt = self._insert(table)
        return stmt.on_conflict_do_update(
            index_elements=[table.c.reminder_id],
            set_={"payload": stmt.excluded.payload, "updated_at": stmt.excluded.updated_at},
            where=table.c.payload.is_(None),
        ).returning(table.c.reminder_id, table.c.patient_id, table.c.status)

    def _insert_cancel(self) -> Any:
        table = DeliveryRow.__table__
        stmt = self._insert(table)
        return stmt.on_conflict_do_update(
            index_elements=[table.c.reminder_id],
            set_={
                "status": "cancelled",
                "status_reason": stmt.excluded.status_reason,
                "updated_at": stmt.excluded.updated_at,
            },
            # or_ of equalities, not IN: an expanding IN cannot be used with executemany
            where=or_(*(table.c.status == status for status in WAITING)),
        ).returning(table.c.reminder_id, table.c.patient_id, table.c.status_reason)

    @staticmethod
    def _row(output: Output, now: datetime) -> dict[str, Any]:
        purpose = "care_team_alert" if isinstance(output, CareTeamAlert) else "reminder"
        return delivery_values(
            output_key(output), purpose, output.patient_id, output.model_dump_json(), now
        )

    @staticmethod
    def _cancel_row(cancel: ReminderCancelled, now: datetime) -> dict[str, Any]:
        row = delivery_values(cancel.reminder_id, "reminder", cancel.patient_id, None, now)
        return row | {"status": "cancelled", "status_reason": f"cancelled: {cancel.reason}"}

    def add_reply(self, reply_id: str, patient_id: str, payload: str, now: datetime) -> bool:
        """A reply to an inbound message; False if that reply was already queued."""
        table = DeliveryRow.__table__
        stmt = self._insert(table).on_conflict_do_nothing(index_elements=[table.c.reminder_id])
        with self.engine.begin() as conn:
            inserted = conn.execute(
                stmt.returning(table.c.id),
                [delivery_values(reply_id, "reply", patient_id, payload, now)],
            ).first()
            if inserted:
                conn.execute(
                    AuditRow.__table__.insert(),
                    [audit_values(now, patient_id, reply_id, "recorded", "reply queued")],
                )
        return inserted is not None

    def claim_due(
        self,
        now: datetime,
        limit: int,
        attempt_id: str,
        lease: timedelta,
        reminder_id: str | None = None,
    ) -> list[Claimed]:
        """Lease up to `limit` due rows (and rows whose holder's lease ran out) as 'sending'."""
        table = DeliveryRow.__table__
        claimable = or_(
            and_(table.c.status.in_(WAITING), table.c.next_attempt_at <= now),
            and_(table.c.status == "sending", table.c.lease_until < now),
        )
        query = select(table.c.id, table.c.status).where(claimable)
        if reminder_id is not None:
            query = query.where(table.c.reminder_id == reminder_id)
        query = query.order_by(table.c.next_attempt_at).limit(limit)
        if self.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        with self.engine.begin() as conn:
            found = {row.id: row.status for row in conn.execute(query)}
            if not found:
                return []
            rows = conn.execute(
                update(table)
                .where(table.c.id.in_(found), claimable)
                .values(
                    status="sending", attempt_id=attempt_id, lease_until=now + lease, updated_at=now
                )
                .returning(
                    table.c.id,
                    table.c.reminder_id,
                    table.c.purpose,
                    table.c.patient_id,
                    table.c.payload,
                    table.c.attempts,
                )
            ).all()
        return [
            Claimed(*row, attempt_id=attempt_id, was_stale=found[row.id] == "sending")
            for row in rows
        ]

    def finish(self, claimed: Claimed, outcome: Finish, now: datetime) -> bool:
        """Apply `outcome` if this worker still holds the lease; audit it in the same txn."""
        return self.finish_many([(claimed, outcome, now)])[0]

    def finish_many(self, finished: Sequence[tuple[Claimed, Finish, datetime]]) -> list[bool]:
        """`finish` for many deliveries in one transaction: one guarded UPDATE per row, sent as
        one batch, and one INSERT for the audit rows. Returns, per row, whether it was applied
        (False: the lease is no longer this worker's, as with `finish`)."""
        if not finished:
            return []
        params = [_finish_params(claimed, outcome, now) for claimed, outcome, now in finished]
        with self.engine.begin() as conn:
            changed = conn.execute(_finish_statement(), params).rowcount
            if changed == len(finished):
                applied = [True] * len(finished)
            else:  # some lease was lost (a rare, slow send): see which rows took the outcome
                table = DeliveryRow.__table__
                query = select(table.c.id, table.c.attempt_id, table.c.status).where(
                    table.c.id.in_([claimed.id for claimed, _, _ in finished])
                )
                now_held = {row.id: (row.attempt_id, row.status) for row in conn.execute(query)}
                applied = [
                    now_held.get(claimed.id, (None, None))[0] == claimed.attempt_id
                    and now_held[claimed.id][1] != "sending"
                    for claimed, _, _ in finished
                ]
            audits = [
                audit_values(
                    now,
                    claimed.patient_id,
                    claimed.reminder_id,
                    outcome.status if outcome.status in FINAL else "deferred",
                    outcome.reason,
                )
                for (claimed, outcome, now), done in zip(finished, applied, strict=True)
                if done
            ]
            if audits:
                conn.execute(AuditRow.__table__.insert(), audits)
        return applied

    def sms_sent_since(
        self, patient_ids: Iterable[str], since: datetime
    ) -> dict[str, list[datetime]]:
        """When each patient's reminder SMS went out since `since` (for the caps)."""
        table = DeliveryRow.__table__
        ids = list(set(patient_ids))
        history: dict[str, list[datetime]] = {pid: [] for pid in ids}
        if not ids:
            return history
        query = select(table.c.patient_id, table.c.sent_at).where(
            table.c.patient_id.in_(ids),
            table.c.purpose == "reminder",
            table.c.channel == "sms",
            table.c.status == "sent",
            table.c.sent_at >= since,
        )
        with self.engine.connect() as conn:
            for patient_id, sent_at in conn.execute(query):
                history[patient_id].append(sent_at)
        return history

    def deliveries_for(self, patient_id: str) -> list[DeliveryRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(DeliveryRow)
                .where(DeliveryRow.patient_id == patient_id)
                .order_by(DeliveryRow.id)
            ).all()
        return [DeliveryRow.model_validate(row._mapping) for row in rows]

    def audit_for(self, patient_id: str) -> list[AuditRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(AuditRow).where(AuditRow.patient_id == patient_id).order_by(AuditRow.id)
            ).all()
        return [AuditRow.model_validate(row._mapping) for row in rows]

    def audit(
        self, patient_id: str, reminder_id: str | None, action: str, reason: str, now: datetime
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                AuditRow.__table__.insert(),
                [audit_values(now, patient_id, reminder_id, action, reason)],
            )


@functools.cache
def _finish_statement() -> Any:
    """The guarded UPDATE of `finish`, built once: the same statement for every outcome (a field
    the outcome leaves unset keeps its value), so a batch of them goes out as one executemany."""
    table = DeliveryRow.__table__

    def keep(name: str) -> Any:
        return func.coalesce(bindparam(f"new_{name}", type_=table.c[name].type), table.c[name])

    return (
        update(table)
        .where(
            table.c.id == bindparam("held_id"),
            table.c.attempt_id == bindparam("held_attempt_id"),
            table.c.status == "sending",
        )
        .values(
            status=bindparam("new_status"),
            status_reason=bindparam("new_status_reason"),
            updated_at=bindparam("new_updated_at", type_=table.c.updated_at.type),
            lease_until=None,
            attempts=bindparam("new_attempts"),
            next_attempt_at=keep("next_attempt_at"),
            sent_at=keep("sent_at"),
            channel=keep("channel"),
            subject=keep("subject"),
            body=keep("body"),
            provider_result=keep("provider_result"),
        )
    )


def _finish_params(claimed: Claimed, outcome: Finish, now: datetime) -> dict[str, Any]:
    provider_result = outcome.provider_result
    return {
        "held_id": claimed.id,
        "held_attempt_id": claimed.attempt_id,
        "new_status": outcome.status,
        "new_status_reason": outcome.reason,
        "new_updated_at": now,
        "new_attempts": claimed.attempts + (1 if outcome.attempted else 0),
        "new_next_attempt_at": outcome.next_attempt_at,
        "new_sent_at": now if outcome.status == "sent" else None,
        "new_channel": outcome.channel,
        "new_subject": outcome.subject,
        "new_body": outcome.body,
        "new_provider_result": (
            None if provider_result is None else json.dumps(list(provider_result))
        ),
    }


def delivery_values(
    key: str, purpose: str, patient_id: str, payload: str | None, now: datetime
) -> dict[str, Any]:
    return {
        "reminder_id": key,
        "purpose": purpose,
        "patient_id": patient_id,
        "payload": payload,
        "status": "pending",
        "status_reason": None,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


def audit_values(
    now: datetime, patient_id: str, reminder_id: str | None, action: str, reason: str
) -> dict[str, Any]:
    return {
        "at": now,
        "patient_id": patient_id,
        "reminder_id": reminder_id,
        "action": action,
        "reason": reason,
    }
