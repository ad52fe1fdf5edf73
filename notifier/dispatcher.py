"""`Dispatcher`: leases due deliveries, asks the policy, sends through channels, records results."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
from collections import defaultdict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from itertools import count
from typing import Any

from models.outputs import AlertKind, CareTeamAlert, Reminder, Severity, alert_id, parse_output
from models.templates import Message, MessageKind
from notifier.channels import ChannelResult, DeliveryChannel, ServiceResult
from notifier.clock import Clock
from notifier.messages import MessageRenderer
from notifier.metrics import NotifierMetrics
from notifier.outbox import Claimed, Finish, SqlOutbox
from notifier.policy import Defer, DeliveryPolicy, GiveUp, Send, Suppress
from notifier.recipient_store import SqlRecipients
from notifier.recipients import Channel, Recipient

log = logging.getLogger(__name__)
CAP_HISTORY = timedelta(days=8)  # covers the longest cap window (a local week) across DST


@dataclass(frozen=True)
class DispatchConfig:
    batch: int = 200
    concurrency: int = 16
    lease: timedelta = timedelta(minutes=5)
    alert_respond_within: timedelta = timedelta(days=2)


class Dispatcher:
    def __init__(
        self,
        outbox: SqlOutbox,
        recipients: SqlRecipients,
        policy: DeliveryPolicy,
        renderer: MessageRenderer,
        channels: Mapping[Channel, DeliveryChannel],
        clock: Clock,
        config: DispatchConfig | None = None,
        metrics: NotifierMetrics | None = None,
    ) -> None:
        self.metrics = metrics
        self.outbox, self.recipients, self.policy = outbox, recipients, policy
        self.renderer, self.channels, self.clock = renderer, dict(channels), clock
        self.config = config or DispatchConfig()
        self._pool = ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="rw-send")
        self._worker = f"{os.uname().nodename}-{os.getpid()}-{secrets.token_hex(3)}"
        self._claims = count(1)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _finish(self, row: Claimed, outcome: Finish, now: Any) -> None:
        self.outbox.finish(row, outcome, now)
        if self.metrics is not None:
            self.metrics.deliveries.labels(outcome.status, row.purpose).inc()

    async def run(self, stop: asyncio.Event, interval: float = 1.0) -> None:
        while not stop.is_set():
            try:
                handled = await self.dispatch_once()
            except Exception:
                log.exception("dispatch round failed; retrying")
                handled = 0
            if handled < self.config.batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)

    async def dispatch_once(self, reminder_id: str | None = None) -> int:
        """Lease what is due now (or one delivery) and handle it; returns how many."""
        loop = asyncio.get_running_loop()
        now = self.clock()
        attempt_id = f"{self._worker}-{next(self._claims)}"
        claimed = await loop.run_in_executor(
            self._pool,
            lambda: self.outbox.claim_due(
                now, self.config.batch, attempt_id, self.config.lease, reminder_id
            ),
        )
        if not claimed:
            return 0
        patients = {c.patient_id for c in claimed}
        recipients, history = await loop.run_in_executor(
            self._pool,
            lambda: (
                self.recipients.get_many(patients),
                self.outbox.sms_sent_since(patients, now - CAP_HISTORY),
            ),
        )
        by_patient: dict[str, list[Claimed]] = defaultdict(list)
        for item in claimed:
            by_patient[item.patient_id].append(item)
        await asyncio.gather(
            *(
                loop.run_in_executor(
                    self._pool, self._deliver_all, rows, recipients.get(pid), history[pid]
                )
                for pid, rows in by_patient.items()
            )
        )
        return len(claimed)

    def _deliver_all(
        self, rows: list[Claimed], recipient: Recipient | None, sent: list[Any]
    ) -> None:
        # One patient's deliveries in order, in one thread: the SMS caps see each send.
        for row in rows:
            try:
                self._deliver(row, recipient, sent)
            except Exception:
                log.exception("delivery %s failed unexpectedly; lease will expire", row.reminder_id)

    def _deliver(self, row: Claimed, recipient: Recipient | None, sent: list[Any]) -> None:
        now = self.clock()
        if row.was_stale:
            self.outbox.audit(
                row.patient_id,
                row.reminder_id,
                "lease_expired",
                "previous attempt did not finish (worker died?): outcome unknown, trying again",
                now,
            )
        if row.payload is None:
            self._finish(row, Finish("suppressed", "nothing to send: no payload"), now)
            return
        decision = self.policy.decide(row.purpose, recipient, now, sent)  # type: ignore[arg-type]
        if isinstance(decision, Defer):
            self._finish(row, Finish("deferred", decision.reason, decision.until), now)
        elif isinstance(decision, Suppress):
            self._finish(row, Finish("suppressed", decision.reason), now)
        else:
            self._send(row, recipient, decision, sent)

    def _send(
        self, row: Claimed, recipient: Recipient | None, decision: Send, sent: list[Any]
    ) -> None:
        results: list[dict[str, Any]] = []
        for channel in decision.channels:
            message = self._message(row, recipient, channel)
            address = recipient.address(channel) if recipient else None
            result = self._channel_send(channel, address, message)
            results.append(result.record())
            if result.ok:
                now = self.clock()
                tried = " after " + ", ".join(r["channel"] for r in results[:-1]) + " failed"
                reason = f"{decision.reason}; sent by {channel}" + (tried if results[:-1] else "")
                outcome = Finish(
                    "sent",
                    reason,
                    attempted=True,
                    channel=channel.value,
                    subject=message.subject,
                    body=message.body,
                    provider_result=results,
                )
                self._finish(row, outcome, now)
                if channel is Channel.SMS and row.purpose == "reminder":
                    sent.append(now)
                return
        self._failed(row, results, decision.channels[-1])

    def _channel_send(
        self, channel: Channel, address: str | None, message: Message
    ) -> ChannelResult:
        sender = self.channels.get(channel)
        if sender is None:
            return ChannelResult(channel, (ServiceResult("none", "NOT_CONFIGURED", 0),))
        return sender.send(address, message)

    def _failed(self, row: Claimed, results: list[dict[str, Any]], last: Channel) -> None:
        now = self.clock()
        verdict = self.policy.after_failure(row.attempts + 1, now)
        if isinstance(verdict, GiveUp):
            self._finish(
                row,
                Finish(
                    "failed",
                    verdict.reason,
                    attempted=True,
                    channel=last.value,
                    provider_result=results,
                ),
                now,
            )
            self._raise_failure_alert(row, verdict.reason)
            return
        self._finish(
            row,
            Finish(
                "retrying",
                verdict.reason,
                verdict.at,
                attempted=True,
                channel=last.value,
                provider_result=results,
            ),
            now,
        )

    def _raise_failure_alert(self, row: Claimed, reason: str) -> None:
        now = self.clock()
        if row.purpose == "care_team_alert":
            log.error("care-team alert %s could not be delivered on any channel", row.reminder_id)
            return
        item = None
        if row.purpose == "reminder" and row.payload:
            output = parse_output(row.payload)
            item = output.item if isinstance(output, Reminder) else None
        alert = CareTeamAlert(
            patient_id=row.patient_id,
            alert_id=alert_id(row.patient_id, AlertKind.DELIVERY_FAILED, row.reminder_id),
            kind=AlertKind.DELIVERY_FAILED,
            severity=Severity.HIGH,
            reason=f"{row.purpose} {row.reminder_id}: {reason}",
            item=item,
            raised_at=now,
            respond_by=now + self.config.alert_respond_within,
        )
        self.outbox.record([alert], now)

    def _message(self, row: Claimed, recipient: Recipient | None, channel: Channel) -> Message:
        assert row.payload is not None
        language = recipient.language if recipient else "en"
        if row.purpose == "reply":
            return self.renderer.for_reply(MessageKind(json.loads(row.payload)["kind"]), language)
        output = parse_output(row.payload)
        if isinstance(output, CareTeamAlert):
            return self.renderer.for_alert(output)
        assert isinstance(output, Reminder)
        return self.renderer.for_reminder(output, language, channel.value)  # type: ignore[arg-type]
