"""`Dispatcher`: leases due deliveries, asks the policy, sends through channels, records results."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count
from typing import Any, TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError

from models.outputs import AlertKind, CareTeamAlert, Reminder, Severity, alert_id, parse_output
from models.templates import Message, MessageKind
from notifier.channels import WRONG_TARGET, ChannelResult, DeliveryChannel, ServiceResult
from notifier.clock import Clock
from notifier.messages import MessageRenderer
from notifier.metrics import NotifierMetrics
from notifier.outages import NOT_AN_OUTAGE, OutageNotices, failure_in_words, reminder_horizon
from notifier.outbox import Claimed, Finish, SqlOutbox
from notifier.policy import Defer, DeliveryPolicy, GiveUp, Send, Suppress
from notifier.recipient_store import SqlRecipients
from notifier.recipients import Channel, Recipient

log = logging.getLogger(__name__)
CAP_HISTORY = timedelta(days=8)  # covers the longest cap window (a local week) across DST
LEASE_REFILL = 0.25  # a new lease once this share of the slots is free
WRITE_RETRY_DELAYS = (0.1, 0.3, 1.0, 2.0, 4.0, 8.0)  # ~15 s: a database restart or failover
T = TypeVar("T")


def retried(what: str, call: Callable[..., T], *args: Any) -> T:
    """`call(*args)`, tried again (WRITE_RETRY_DELAYS apart) when the database drops the connection.

    Used for everything a round does with the database: a result not written leaves a sent row
    in `sending` (sent again when its lease runs out: 41 duplicate SMS in 600 sends under 5
    connection drops, before); a lease or a read that fails ends the round, leaving the rows
    it had leased unsent until their lease runs out. Each retry is safe: a failed transaction
    was rolled back; a lease whose commit went through unseen just runs out; the result UPDATE
    is guarded by the attempt id."""
    for delay in WRITE_RETRY_DELAYS:
        try:
            return call(*args)
        except (OperationalError, InterfaceError):
            log.warning("%s failed; retrying in %.1f s", what, delay)
            time.sleep(delay)
    return call(*args)


@dataclass
class ChannelHealth:
    """A channel's recent results, for /healthz: failing = several failures, no success since."""

    failures_in_a_row: int = 0
    last_success: float | None = None
    failing_since: float | None = None

    def record(self, ok: bool, at: float) -> None:
        if ok:
            self.failures_in_a_row, self.last_success, self.failing_since = 0, at, None
            return
        self.failures_in_a_row += 1
        if self.failing_since is None:
            self.failing_since = at

    @property
    def failing(self) -> bool:
        return self.failures_in_a_row >= 3


@dataclass(frozen=True)
class DispatchConfig:
    batch: int = 200  # rows handled in one round, at most (leased a few at a time)
    concurrency: int = 16  # sending threads; also the most rows leased and not yet recorded
    lease: timedelta = timedelta(minutes=5)
    write_batch: int = 100  # outcomes written in one transaction, at most
    write_wait: float = 0.0  # seconds an outcome may wait for others before it is written
    alert_respond_within: timedelta = timedelta(days=2)


Finished = tuple[Claimed, Finish, datetime]


class ResultWriter:
    """Writes one round's finished deliveries in batches: a transaction carries every outcome
    handed over while the previous one was being written (group commit), instead of one each.

    Sending threads `add` an outcome and wait on the event it returns before they send again;
    `run` (in its own thread) writes whatever has been handed over (`SqlOutbox.finish_many`: one
    transaction) once `max_batch` rows are waiting or the oldest has waited `max_wait` seconds
    (0: at once), and everything left once `close` is called. So each sending thread has at most
    one message sent and not yet recorded: a crash can leave at most one per thread in
    `sending`, to be re-sent when its lease runs out (the duplicate window, docs/notifier.md)."""

    def __init__(
        self, write: Callable[[list[Finished]], None], max_batch: int, max_wait: float
    ) -> None:
        self._write, self.max_batch, self.max_wait = write, max_batch, max_wait
        self._ready = threading.Condition()
        self._pending: list[tuple[Finished, threading.Event]] = []
        self._closed = False

    def add(self, item: Finished) -> threading.Event:
        """Hand over an outcome; the event is set once its write was tried (done or failed)."""
        written = threading.Event()
        with self._ready:
            if not self._closed:
                self._pending.append((item, written))
                if len(self._pending) == 1 or len(self._pending) >= self.max_batch:
                    self._ready.notify()
                return written
        try:
            self._write([item])  # the round was cancelled under a sending thread: write it now
        finally:
            written.set()
        return written

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify()

    def run(self) -> None:
        while True:
            with self._ready:
                while not self._pending and not self._closed:
                    self._ready.wait()
                if not self._pending:
                    return  # closed and everything written
                deadline = time.monotonic() + self.max_wait
                while len(self._pending) < self.max_batch and not self._closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._ready.wait(left)
                batch, self._pending = self._pending, []
            try:
                self._write([item for item, _ in batch])
            except Exception:
                log.exception("recording %d results failed; their leases will expire", len(batch))
            finally:
                for _, written in batch:
                    written.set()


class _Slots:
    """How many more rows this round may lease: one slot per row leased and not yet recorded."""

    def __init__(self, total: int) -> None:
        self.total, self._free = total, total
        self._changed = threading.Condition()

    def take(self, at_least: int, at_most: int) -> int:
        """Wait until `at_least` slots are free, then take as many free ones as allowed."""
        with self._changed:
            self._changed.wait_for(lambda: self._free >= min(at_least, self.total))
            taken = min(self._free, at_most)
            self._free -= taken
            return taken

    def give(self, count: int = 1) -> None:
        with self._changed:
            self._free += count
            self._changed.notify_all()


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
        self._helpers: set[threading.Thread] = set()  # each round's writer and contacts reader
        self._worker = f"{os.uname().nodename}-{os.getpid()}-{secrets.token_hex(3)}"
        # For /healthz: the last round that completed, and each channel's last results.
        self.last_round_ok: float | None = None
        self.channel_health: dict[Channel, ChannelHealth] = {}
        self.outages = OutageNotices(reporter=self._worker)
        self._claims = count(1)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for thread in list(self._helpers):
            thread.join()
        for channel in self.channels.values():
            channel.close()  # e.g. the sending threads' SMTP sessions

    def _spawn(self, name: str, work: Callable[[], None]) -> asyncio.Future[None]:
        """Run `work` in a thread of its own (not a pool: a round's writer and reader must never
        queue behind other rounds' threads); the future completes when it returns."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def settle(error: BaseException | None) -> None:
            if done.done():
                return
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

        def target() -> None:
            error: BaseException | None = None
            try:
                work()
            except BaseException as exc:  # handed to the awaiting round
                error = exc
            finally:
                self._helpers.discard(thread)
            with contextlib.suppress(RuntimeError):  # the loop may be gone at shutdown
                loop.call_soon_threadsafe(settle, error)

        thread = threading.Thread(target=target, name=f"rw-{name}")
        self._helpers.add(thread)
        thread.start()
        return done

    def _finish(self, row: Claimed, outcome: Finish, now: Any) -> None:
        """Record an outcome at once (not through the round's batch)."""
        self._write([(row, outcome, now)])

    def _write(self, batch: list[Finished]) -> None:
        """Record outcomes, retrying when the database drops the connection (`retried`); a row
        whose first write did commit counts as applied."""
        retried(f"recording {len(batch)} results", self.outbox.finish_many, batch)
        if self.metrics is not None:
            for row, outcome, _ in batch:
                self.metrics.deliveries.labels(outcome.status, row.purpose).inc()

    async def run(self, stop: asyncio.Event, interval: float = 1.0) -> None:
        while not stop.is_set():
            try:
                handled = await self.dispatch_once()
                self.last_round_ok = time.monotonic()
            except Exception:
                log.exception("dispatch round failed; retrying")
                handled = 0
            if handled < self.config.batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)

    async def dispatch_once(self, reminder_id: str | None = None) -> int:
        """Handle what is due now (or one delivery), up to `batch` rows; returns how many."""
        now = self.clock()
        handled: list[int] = []
        await self._spawn("round", lambda: handled.append(self._round(now, reminder_id)))
        await asyncio.get_running_loop().run_in_executor(self._pool, self._send_outage_notices)
        return handled[0] if handled else 0

    def _round(self, now: datetime, reminder_id: str | None) -> int:
        """Lease only what the sending threads are about to send, a few rows at a time.

        At most `concurrency` rows are leased and not yet recorded at any moment (one slot per
        row, freed when its outcome is written); a lease is taken once a quarter of the slots
        are free, so that one claim serves several rows. A SIGKILL thus leaves at most
        `concurrency` rows in `sending` (before: the whole batch of up to 200).

        One patient's rows go to one thread, in order (the SMS caps see each send): a row of a
        patient whose rows are being sent joins that patient's queue; a new patient's contacts
        and SMS history are read once, when the patient is first leased this round."""
        config = self.config
        slots = _Slots(config.concurrency)
        refill = max(1, int(config.concurrency * LEASE_REFILL))
        results = ResultWriter(self._write, config.write_batch, config.write_wait)
        writer = threading.Thread(target=results.run, name="rw-record")
        writer.start()
        queues: dict[str, deque[Claimed]] = {}  # patients being sent to, and their rows left
        lock = threading.Lock()
        sending: list[Future[None]] = []

        def finish(item: Finished) -> None:
            results.add(item).wait()  # recorded before this thread sends again

        def drain(patient_id: str, recipient: Recipient | None, sent: list[datetime]) -> None:
            while True:
                with lock:
                    rows = queues[patient_id]
                    if not rows:
                        del queues[patient_id]
                        return
                    row = rows.popleft()
                try:
                    self._deliver(row, recipient, sent, finish)
                except Exception:
                    log.exception(
                        "delivery %s failed unexpectedly; lease will expire", row.reminder_id
                    )
                finally:
                    slots.give()

        handled = 0
        try:
            while handled < config.batch:
                wanted = slots.take(refill, config.batch - handled)
                attempt_id = f"{self._worker}-{next(self._claims)}"
                claimed = retried(
                    "leasing due rows",
                    self.outbox.claim_due,
                    *(now, wanted, attempt_id, config.lease, reminder_id),
                )
                slots.give(wanted - len(claimed))
                handled += len(claimed)
                new: list[str] = []
                with lock:
                    for row in claimed:
                        if row.patient_id not in queues:
                            queues[row.patient_id] = deque()
                            new.append(row.patient_id)
                        queues[row.patient_id].append(row)
                if new:
                    contacts = retried("reading contacts", self.recipients.get_many, new)
                    since = now - CAP_HISTORY
                    history = retried("reading SMS history", self.outbox.sms_sent_since, new, since)
                    for pid in new:
                        sending.append(
                            self._pool.submit(drain, pid, contacts.get(pid), history[pid])
                        )
                if len(claimed) < wanted:
                    break  # nothing more is due now
        finally:
            futures_wait(sending)
            results.close()
            writer.join()
        return handled

    def _send_outage_notices(self) -> None:
        """One care-team notice when patient sends start failing, one when they recover
        (with the reminders whose window closed meanwhile); retried each round until sent."""
        care = self.channels.get(Channel.CARE_TEAM)
        for notice in self.outages.pending():
            if care is not None and care.send(None, notice.message).ok:
                self.outages.delivered(notice)
            else:
                log.error("outage notice could not be sent to the care team; retrying")

    def _deliver(
        self,
        row: Claimed,
        recipient: Recipient | None,
        sent: list[Any],
        finish: Callable[[Finished], None],
    ) -> None:
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
            finish((row, Finish("suppressed", "nothing to send: no payload"), now))
            return
        zone = None
        if row.purpose == "reminder" and recipient is not None and not recipient.time_zone:
            output = parse_output(row.payload)  # only then: parsing costs CPU per message
            zone = output.time_zone if isinstance(output, Reminder) else None
        reply_by = Channel.SMS
        if row.purpose == "reply":
            reply_by = Channel(json.loads(row.payload).get("reply_by", Channel.SMS.value))
        decision = self.policy.decide(
            row.purpose,  # type: ignore[arg-type]
            recipient,
            now,
            sent,
            reminder_zone=zone,
            reply_by=reply_by,
        )
        if isinstance(decision, Defer):
            finish((row, Finish("deferred", decision.reason, decision.until), now))
        elif isinstance(decision, Suppress):
            finish((row, Finish("suppressed", decision.reason), now))
        else:
            self._send(row, recipient, decision, sent, finish)

    def _send(
        self,
        row: Claimed,
        recipient: Recipient | None,
        decision: Send,
        sent: list[Any],
        finish: Callable[[Finished], None],
    ) -> None:
        results: list[dict[str, Any]] = []
        for channel in decision.channels:
            message = self._message(row, recipient, channel)
            address = recipient.address(channel) if recipient else None
            result = self._channel_send(channel, address, message, row.reminder_id)
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
                finish((row, outcome, now))
                if channel is Channel.SMS and row.purpose == "reminder":
                    sent.append(now)
                if channel is not Channel.CARE_TEAM:
                    self.outages.recovered(now)
                return
        refusals = [
            service["service"]
            for result in results
            for service in result["services"]
            if service["status"] == WRONG_TARGET
        ]
        if len(refusals) == len(results):  # every channel would have reached someone else
            reason = "refused, not sent: " + "; ".join(refusals)
            self._give_up(row, reason, results, decision.channels[-1], grouped=False)
            return
        self._failed(row, results, decision.channels[-1], finish, recipient)

    def _channel_send(
        self, channel: Channel, address: str | None, message: Message, message_id: str | None = None
    ) -> ChannelResult:
        sender = self.channels.get(channel)
        if sender is None:
            return ChannelResult(channel, (ServiceResult("none", "NOT_CONFIGURED", 0),))
        result = sender.send(address, message, message_id)
        statuses = {service.status for service in result.services}
        if not statuses & {WRONG_TARGET, "NO_ADDRESS"}:  # the provider itself was tried
            health = self.channel_health.setdefault(channel, ChannelHealth())
            health.record(result.ok, time.monotonic())
        return result

    def _failed(
        self,
        row: Claimed,
        results: list[dict[str, Any]],
        last: Channel,
        finish: Callable[[Finished], None],
        recipient: Recipient | None = None,
    ) -> None:
        now = self.clock()
        why = failure_in_words(results)
        if row.purpose != "care_team_alert" and any(
            s["status"] not in NOT_AN_OUTAGE for r in results for s in r["services"]
        ):
            self.outages.failed(tuple(r["channel"] for r in results), now)
        horizon = reminder_horizon(row.payload, recipient) if row.purpose == "reminder" else None
        verdict = self.policy.after_failure(
            row.attempts + 1,
            now,
            row.purpose,  # type: ignore[arg-type]
            horizon,
            why,
        )
        if isinstance(verdict, GiveUp):
            self._give_up(row, verdict.reason, results, last)
            return
        finish(
            (
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
        )

    def _give_up(
        self,
        row: Claimed,
        reason: str,
        results: list[dict[str, Any]],
        last: Channel,
        grouped: bool = True,
    ) -> None:
        # written at once, so that the trail shows "failed" before the alert it raises
        outcome = Finish(
            "failed", reason, attempted=True, channel=last.value, provider_result=results
        )
        self._finish(row, outcome, self.clock())
        if grouped and row.purpose == "reminder" and self.outages.during_outage(row):
            return  # reported once, in the outage's recovery notice, with the others
        self._raise_failure_alert(row, reason)

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
            kind = MessageKind(json.loads(row.payload)["kind"])
            return self.renderer.for_reply(kind, language, channel.value)  # type: ignore[arg-type]
        output = parse_output(row.payload)
        if isinstance(output, CareTeamAlert):
            return self.renderer.for_alert(output)
        assert isinstance(output, Reminder)
        return self.renderer.for_reminder(output, language, channel.value)  # type: ignore[arg-type]
