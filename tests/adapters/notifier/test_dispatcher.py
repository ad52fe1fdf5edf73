"""Dispatcher with Fake channels on both backends: the policy's decisions end up in the outbox."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from notifier_factories import EMAIL, cancellation, enrol, reminder
from sqlalchemy import Engine, text

from models.outputs import AlertKind, CareTeamAlert, Category, ReminderKind, Severity, alert_id
from models.templates import MessageContext
from notifier import dispatcher as dispatcher_module
from notifier.channels import FakeChannel
from notifier.clock import FakeClock
from notifier.crypto import ContactCipher
from notifier.dispatcher import DispatchConfig, Dispatcher, ResultWriter
from notifier.messages import MessageRenderer
from notifier.outbox import SqlOutbox
from notifier.policy import DeliveryPolicy, PolicyConfig
from notifier.recipient_store import SqlRecipients
from notifier.recipients import Channel

NY = ZoneInfo("America/New_York")


class Rig:
    def __init__(
        self, engine: Engine, cipher: ContactCipher, clock: FakeClock, **policy: object
    ) -> None:
        self.clock = clock
        self.outbox = SqlOutbox(engine)
        self.recipients = SqlRecipients(engine, cipher)
        self.sms = FakeChannel(Channel.SMS)
        self.email = FakeChannel(Channel.EMAIL)
        self.care = FakeChannel(Channel.CARE_TEAM)
        config = PolicyConfig(max_attempts=3, backoff_base=timedelta(minutes=1), **policy)  # type: ignore[arg-type]
        self.dispatcher = Dispatcher(
            self.outbox,
            self.recipients,
            DeliveryPolicy(config),
            MessageRenderer(MessageContext("Riverside Clinic", "+1 555 0100")),
            {Channel.SMS: self.sms, Channel.EMAIL: self.email, Channel.CARE_TEAM: self.care},
            clock,
            DispatchConfig(batch=50, concurrency=4),
        )

    def row(self, patient_id: str = "p-1", index: int = 0):
        return self.outbox.deliveries_for(patient_id)[index]


@pytest.fixture
def rig(engine: Engine, cipher: ContactCipher, clock: FakeClock):
    rig = Rig(engine, cipher, clock)
    enrol(rig.recipients, clock())
    yield rig
    rig.dispatcher.close()


async def test_sends_once_by_sms_and_records_why(rig: Rig) -> None:
    rig.outbox.record([reminder()], rig.clock())
    assert await rig.dispatcher.dispatch_once() == 1
    assert await rig.dispatcher.dispatch_once() == 0
    assert len(rig.sms.sent) == 1 and rig.email.sent == []
    address, message = rig.sms.sent[0]
    assert address == "+15552017788" and "Riverside Clinic" in message.body
    row = rig.row()
    assert row.status == "sent" and row.channel == "sms" and row.body == message.body
    assert "sent by sms" in (row.status_reason or "")


async def test_sms_failure_falls_back_to_email(rig: Rig) -> None:
    rig.sms.fail_first = 1
    rig.outbox.record([reminder()], rig.clock())
    await rig.dispatcher.dispatch_once()
    row = rig.row()
    assert row.status == "sent" and row.channel == "email"
    assert [r["ok"] for r in __import__("json").loads(row.provider_result)] == [False, True]
    assert rig.email.sent[0][0] == EMAIL


async def test_quiet_hours_defer_then_send_in_the_morning(rig: Rig) -> None:
    rig.clock.now = datetime(2027, 3, 10, 23, tzinfo=NY).astimezone(UTC)
    rig.outbox.record([reminder()], rig.clock())
    await rig.dispatcher.dispatch_once()
    row = rig.row()
    assert row.status == "deferred"
    assert row.next_attempt_at == datetime(2027, 3, 11, 8, tzinfo=NY)
    rig.clock.now = datetime(2027, 3, 11, 8, tzinfo=NY).astimezone(UTC)
    await rig.dispatcher.dispatch_once()
    assert rig.row().status == "sent" and len(rig.sms.sent) == 1


async def test_cancellation_while_deferred_means_never_sent(rig: Rig) -> None:
    rig.clock.now = datetime(2027, 3, 10, 23, tzinfo=NY).astimezone(UTC)
    r = reminder()
    rig.outbox.record([r], rig.clock())
    await rig.dispatcher.dispatch_once()
    rig.outbox.record([cancellation(r)], rig.clock())
    rig.clock.advance(timedelta(hours=12))
    await rig.dispatcher.dispatch_once()
    assert rig.sms.sent == [] and rig.row().status == "cancelled"


async def test_second_sms_same_day_is_deferred_by_the_cap(rig: Rig) -> None:
    rig.outbox.record([reminder(item="a"), reminder(item="b")], rig.clock())
    await rig.dispatcher.dispatch_once()
    statuses = sorted(d.status for d in rig.outbox.deliveries_for("p-1"))
    assert statuses == ["deferred", "sent"]
    assert len(rig.sms.sent) == 1


async def test_a_failing_reminder_waits_until_its_window_closes_and_is_reported_once(
    rig: Rig,
) -> None:
    # Before: 3 attempts within minutes, then "failed" and one alert per reminder.
    rig.sms.fail_first = rig.email.fail_first = 10_000
    r = reminder()  # due 2027-03-20: its window closes at midnight after, New York time
    rig.outbox.record([r], rig.clock())
    rounds = 0
    while rounds < 2000:
        await rig.dispatcher.dispatch_once()
        row = rig.row()
        if row.status not in ("retrying", "deferred"):  # deferred: outside the sending window
            break
        if row.status == "retrying":
            assert row.next_attempt_at - rig.clock() <= timedelta(hours=1)  # capped backoff
        rig.clock.now = max(rig.clock(), row.next_attempt_at)
        rounds += 1
    row = rig.row()
    assert row.status == "failed" and "window has closed" in (row.status_reason or "")
    assert rig.clock() >= datetime(2027, 3, 21, tzinfo=NY) - timedelta(hours=1)
    assert rounds > 100  # retried for ten days (in sending hours), not three times
    reasons = [a.reason for a in rig.outbox.audit_for("p-1") if a.reminder_id == r.reminder_id]
    assert "the sms provider refused or failed; the email provider refused or failed" in reasons[1]
    # one notice for the whole outage, no per-reminder alert
    assert [m.subject.split(" since")[0] for _, m in rig.care.sent] == [
        "[high] Patient messages failing"
    ]
    assert not [d for d in rig.outbox.deliveries_for("p-1") if d.purpose == "care_team_alert"]
    # sending works again: the recovery notice lists the reminder whose window closed
    rig.sms.fail_first = rig.email.fail_first = 0
    enrol(rig.recipients, rig.clock(), patient_id="p-9")
    rig.outbox.record([reminder(patient_id="p-9", due=date(2027, 4, 20))], rig.clock())
    await rig.dispatcher.dispatch_once()
    assert len(rig.care.sent) == 2
    recovered = rig.care.sent[1][1]
    assert recovered.subject.startswith("[info] Patient messages recovered")
    assert "p-1 ct_chest" in recovered.body


async def test_a_care_team_alert_is_retried_until_delivered(rig: Rig) -> None:
    rig.care.fail_first = 30
    alert = CareTeamAlert(
        patient_id="p-1",
        alert_id=alert_id("p-1", AlertKind.SELF_HARM, "m-1"),
        kind=AlertKind.SELF_HARM,
        severity=Severity.IMMEDIATE,
        reason="reply may mention self-harm",
        raised_at=rig.clock(),
        respond_by=rig.clock() + timedelta(hours=1),
    )
    rig.outbox.record([alert], rig.clock())
    for _ in range(31):
        await rig.dispatcher.dispatch_once()
        row = rig.row()
        if row.status == "sent":
            break
        assert row.status == "retrying"
        rig.clock.now = max(rig.clock(), row.next_attempt_at)
    assert rig.row().status == "sent" and rig.row().attempts == 31


async def test_no_consent_is_suppressed_with_reason(
    engine: Engine, cipher: ContactCipher, clock: FakeClock
) -> None:
    rig = Rig(engine, cipher, clock)
    enrol(rig.recipients, clock(), patient_id="p-2", consent=())
    rig.outbox.record([reminder(patient_id="p-2")], clock())
    await rig.dispatcher.dispatch_once()
    row = rig.row("p-2")
    assert row.status == "suppressed" and "consent never recorded" in (row.status_reason or "")
    rig.dispatcher.close()


async def test_checkin_reminder_renders_a_checkin(rig: Rig) -> None:
    rig.outbox.record(
        [
            reminder(
                item="fcr1r",
                category=Category.CHECKIN,
                kind=ReminderKind.CHECKIN,
                reason="pre_scan",
            )
        ],
        rig.clock(),
    )
    await rig.dispatcher.dispatch_once()
    assert rig.row().status == "sent"
    assert "0" in rig.sms.sent[0][1].body and "10" in rig.sms.sent[0][1].body


async def test_many_patients_in_one_round(rig: Rig) -> None:
    for n in range(30):
        enrol(rig.recipients, rig.clock(), patient_id=f"q-{n}", phone=f"+1555300{n:04d}")
    rig.outbox.record([reminder(patient_id=f"q-{n}") for n in range(30)], rig.clock())
    assert await rig.dispatcher.dispatch_once() == 30
    assert len(rig.sms.sent) == 30


class LeaseWatchingChannel:
    """An SMS channel that, at every send, counts the rows leased (`sending`) in the database."""

    def __init__(self, engine: Engine) -> None:
        self.name, self.engine = Channel.SMS, engine
        self.fake = FakeChannel(Channel.SMS)
        self.leased: list[int] = []
        self.lock = threading.Lock()

    def send(self, address: str | None, message: Any, message_id: str | None = None) -> Any:
        with self.engine.connect() as conn:
            leased = conn.execute(
                text("SELECT count(*) FROM deliveries WHERE status = 'sending'")
            ).scalar_one()
        with self.lock:
            self.leased.append(leased)
        return self.fake.send(address, message, message_id)

    def close(self) -> None:
        pass


async def test_only_the_rows_about_to_be_sent_are_leased(
    engine: Engine, cipher: ContactCipher, clock: FakeClock
) -> None:
    # 40 patients due at once, 4 sending threads: never more than 4 rows leased (before: the
    # whole round of up to `batch`, all left in `sending` by a SIGKILL). One patient with three
    # reminders: one thread handles them in order, so the daily SMS cap (1) sees the first send
    # and defers the other two.
    rig = Rig(engine, cipher, clock)
    watcher = LeaseWatchingChannel(engine)
    rig.dispatcher.channels[Channel.SMS] = watcher
    try:
        for n in range(40):
            enrol(rig.recipients, clock(), patient_id=f"c-{n}", phone=f"+1555400{n:04d}")
        items = [reminder(patient_id=f"c-{n}") for n in range(40)]
        items += [reminder(patient_id="c-0", item=f"item_{k}") for k in range(2)]
        rig.outbox.record(items, clock())
        assert await rig.dispatcher.dispatch_once() == 42
        assert len(watcher.fake.sent) == 40 and len(watcher.leased) == 40
        assert max(watcher.leased) <= 4, watcher.leased
        assert {rig.row(f"c-{n}").status for n in range(1, 40)} == {"sent"}
        first = [row.status for row in rig.outbox.deliveries_for("c-0")]
        assert sorted(first) == ["deferred", "deferred", "sent"]
        with engine.connect() as conn:
            left = conn.execute(
                text("SELECT count(*) FROM deliveries WHERE status = 'sending'")
            ).scalar_one()
        assert left == 0
    finally:
        rig.dispatcher.close()


def test_result_writer_batches_and_writes_everything_before_it_returns() -> None:
    batches: list[list[Any]] = []
    writer = ResultWriter(batches.append, max_batch=3, max_wait=10.0)
    thread = threading.Thread(target=writer.run)
    thread.start()
    for n in range(3):  # a full batch is written without waiting for max_wait
        writer.add(n)  # type: ignore[arg-type]
    deadline = time.monotonic() + 5
    while not batches and time.monotonic() < deadline:
        time.sleep(0.01)
    assert batches == [[0, 1, 2]]
    writer.add(3)  # type: ignore[arg-type]
    writer.close()  # the rest is written at once, then run() returns
    thread.join(timeout=5)
    assert not thread.is_alive() and batches == [[0, 1, 2], [3]]
    writer.add(4)  # type: ignore[arg-type]  # after the round: written by the caller itself
    assert batches[-1] == [4]


def test_result_writer_survives_a_failing_write(caplog: pytest.LogCaptureFixture) -> None:
    written: list[list[Any]] = []

    def write(batch: list[Any]) -> None:
        if batch == ["bad"]:
            raise RuntimeError("database down")
        written.append(batch)

    writer = ResultWriter(write, max_batch=1, max_wait=0.0)
    thread = threading.Thread(target=writer.run)
    thread.start()
    writer.add("bad")  # type: ignore[arg-type]
    deadline = time.monotonic() + 5
    while "recording 1 results failed" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.01)
    writer.add("good")  # type: ignore[arg-type]
    writer.close()
    thread.join(timeout=5)
    assert written == [["good"]] and "recording 1 results failed" in caplog.text


async def test_recipient_saved_without_zone_gets_sms_in_the_reminders_zone_hours(
    engine: Engine, cipher: ContactCipher
) -> None:
    # shared/cases: no zone on file, patient in Los Angeles, 00:30 local = 08:30 UTC.
    clock = FakeClock(datetime(2027, 3, 10, 8, 30, tzinfo=UTC))
    rig = Rig(engine, cipher, clock)
    try:
        enrol(rig.recipients, clock(), zone=None)
        assert rig.recipients.get("p-1").time_zone is None
        la = reminder().model_copy(update={"time_zone": "America/Los_Angeles"})
        rig.outbox.record([la], clock())
        await rig.dispatcher.dispatch_once()
        assert rig.sms.sent == []
        row = rig.row()
        assert row.status == "deferred"
        assert row.next_attempt_at == datetime(
            2027, 3, 10, 8, tzinfo=ZoneInfo("America/Los_Angeles")
        )
    finally:
        rig.dispatcher.close()


async def test_a_dropped_connection_while_recording_is_retried_not_resent(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    monkeypatch.setattr(dispatcher_module, "WRITE_RETRY_DELAYS", (0.0, 0.0, 0.0))
    real = rig.outbox.finish_many
    drops = {"left": 2}

    def flaky(batch):  # the connection drops twice, then the database is back
        if drops["left"]:
            drops["left"] -= 1
            raise OperationalError(
                "UPDATE deliveries", {}, Exception("server closed the connection")
            )
        return real(batch)

    monkeypatch.setattr(rig.outbox, "finish_many", flaky)
    rig.outbox.record([reminder()], rig.clock())
    await rig.dispatcher.dispatch_once()
    assert drops["left"] == 0 and rig.row().status == "sent"
    rig.clock.advance(timedelta(minutes=10))  # past the lease: nothing left to re-send
    await rig.dispatcher.dispatch_once()
    assert len(rig.sms.sent) == 1


async def test_a_dropped_connection_while_leasing_or_reading_is_retried(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Leases are now taken a few rows at a time, so a connection drop hits a lease or a read
    # far more often than when a round leased 200 rows at once: each is retried, the round
    # goes on, and nothing is left leased and unsent.
    from sqlalchemy.exc import OperationalError

    monkeypatch.setattr(dispatcher_module, "WRITE_RETRY_DELAYS", (0.0, 0.0, 0.0))
    drops = {"claim_due": 2, "get_many": 1, "sms_sent_since": 1}

    def flaky(owner: Any, name: str) -> None:
        real = getattr(owner, name)

        def call(*args: Any) -> Any:
            if drops[name]:
                drops[name] -= 1
                raise OperationalError("SELECT", {}, Exception("server closed the connection"))
            return real(*args)

        monkeypatch.setattr(owner, name, call)

    flaky(rig.outbox, "claim_due")
    flaky(rig.recipients, "get_many")
    flaky(rig.outbox, "sms_sent_since")
    rig.outbox.record([reminder()], rig.clock())
    assert await rig.dispatcher.dispatch_once() == 1
    assert set(drops.values()) == {0}
    assert rig.row().status == "sent" and len(rig.sms.sent) == 1
