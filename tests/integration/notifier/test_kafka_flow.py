"""The real broker: consume -> outbox -> commit, redelivery and restart, cancellations, the
whole service loop, and inbound replies published to the check-ins topic."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from notifier_kit import PHONE, SECRET, cancellation, enrol, make_settings, reminder

from models.events import CheckinAnswered, parse_event
from models.outputs import Category, ReminderKind
from notifier.checkins import KafkaCheckinSink
from notifier.clock import FakeClock
from notifier.consumer import OutputConsumer
from notifier.inbound import signed_headers
from notifier.outbox import Output
from notifier.recipients import Channel
from notifier.service import NotifierService
from notifier.sinks import HttpSmsSink, SmtpSink, free_port
from streams.embedded import ensure_topics
from tests.integration.brokers import on_both_brokers

pytestmark = [pytest.mark.integration, on_both_brokers]
_prefixes = itertools.count()
EMAIL_FIRST = (Channel.EMAIL, Channel.SMS)


@pytest.fixture
async def prefix(kafka_bootstrap: str) -> str:
    prefix = f"t{os.getpid()}x{next(_prefixes)}."
    names = ("reminders", "alerts", "checkins")
    await ensure_topics(kafka_bootstrap, {f"{prefix}{n}.v1": 2 for n in names})
    return prefix


@pytest.fixture
async def produce(kafka_bootstrap: str) -> AsyncIterator[Callable]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await producer.start()

    async def send(topic: str, outputs: list[Output]) -> None:
        for output in outputs:
            await producer.send_and_wait(
                topic, output.model_dump_json().encode(), key=output.patient_id.encode()
            )

    yield send
    await producer.stop()


@pytest.fixture
def kafka_service(
    sqlite_url: str,
    smtp_sink: SmtpSink,
    sms_sink: HttpSmsSink,
    clock: FakeClock,
    kafka_bootstrap: str,
    prefix: str,
) -> Iterator[NotifierService]:
    settings = make_settings(
        sqlite_url,
        smtp_sink,
        sms_sink,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=prefix,
        consumer_group=f"{prefix}notifier",
        kafka_session_timeout_ms=6000,  # Kafka refuses less (group.min.session.timeout.ms)
        kafka_rebalance_timeout_ms=1000,
        kafka_heartbeat_interval_ms=500,
        http_port=free_port(),
        dispatch_interval_seconds=0.1,
    )
    service = NotifierService(settings, clock)
    yield service
    service.close()


async def poll_until(
    consumer: OutputConsumer, done: Callable[[], bool], timeout: float = 20
) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "consumer did not catch up in time"
        await consumer.poll_once(timeout_ms=200)


def deliveries(service: NotifierService, *patients: str) -> list:
    return [d for p in patients for d in service.outbox.deliveries_for(p)]


async def wait_for(predicate: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_redelivery_and_restart_before_commit_send_one_message_each(
    kafka_service: NotifierService,
    produce: Callable,
    prefix: str,
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = kafka_service
    enrol(service.recipients, service.clock(), "p-1", email="one@patmail.test", order=EMAIL_FIRST)
    enrol(service.recipients, service.clock(), "p-2", email="two@patmail.test", order=EMAIL_FIRST)
    one, two = reminder("p-1"), reminder("p-2")
    await produce(f"{prefix}reminders.v1", [one, one, two])  # a duplicate in the log itself

    crashed = service.consumer()

    async def died_before_commit(offsets: object) -> None:  # the process dies right here
        return None

    monkeypatch.setattr(crashed, "_commit", died_before_commit)
    await crashed.consumer.start()
    await poll_until(crashed, lambda: crashed.consumed >= 3)
    await crashed.consumer.stop()
    assert len(deliveries(service, "p-1", "p-2")) == 2

    restarted = service.consumer()  # same group, nothing committed: all three come again
    await restarted.consumer.start()
    await poll_until(restarted, lambda: restarted.consumed >= 3)
    committed = [
        await restarted.consumer.committed(TopicPartition(f"{prefix}reminders.v1", p))
        for p in (0, 1)
    ]
    assert sum(c or 0 for c in committed) == 3
    assert restarted.recorded == 0 and len(deliveries(service, "p-1", "p-2")) == 2

    await service.dispatcher.dispatch_once()
    await produce(f"{prefix}reminders.v1", [one])  # a replay after the send
    await poll_until(restarted, lambda: restarted.consumed >= 4)
    await restarted.consumer.stop()
    await service.dispatcher.dispatch_once()

    await wait_for(lambda: sum(smtp_sink.count_by_recipient().values()) >= 2)
    await asyncio.sleep(0.2)
    assert smtp_sink.count_by_recipient() == {"one@patmail.test": 1, "two@patmail.test": 1}


async def test_cancellation_before_and_after_the_reminder(
    kafka_service: NotifierService, produce: Callable, prefix: str, smtp_sink: SmtpSink
) -> None:
    service = kafka_service
    enrol(service.recipients, service.clock(), "p-1", order=EMAIL_FIRST)
    early, late = reminder(item="ct_chest"), reminder(item="cea")
    await produce(f"{prefix}reminders.v1", [cancellation(early), early, late, cancellation(late)])
    consumer = service.consumer()
    await consumer.consumer.start()
    await poll_until(consumer, lambda: consumer.consumed >= 4)
    await consumer.consumer.stop()
    assert await service.dispatcher.dispatch_once() == 0
    assert {d.status for d in deliveries(service, "p-1")} == {"cancelled"}
    assert smtp_sink.messages == []


async def test_the_running_service_consumes_sends_and_alerts(
    kafka_service: NotifierService, produce: Callable, prefix: str, smtp_sink: SmtpSink
) -> None:
    from datetime import timedelta

    from models.outputs import AlertKind, CareTeamAlert, Severity, alert_id

    service = kafka_service
    enrol(service.recipients, service.clock(), "p-1", order=EMAIL_FIRST)
    now = service.clock()
    alert = CareTeamAlert(
        patient_id="p-1",
        alert_id=alert_id("p-1", AlertKind.HIGH_FEAR, "m-1"),
        kind=AlertKind.HIGH_FEAR,
        severity=Severity.HIGH,
        reason="check-in score 9",
        raised_at=now,
        respond_by=now + timedelta(days=1),
    )
    stop = asyncio.Event()
    running = asyncio.create_task(service.run(stop))
    await produce(f"{prefix}reminders.v1", [reminder()])
    await produce(f"{prefix}alerts.v1", [alert])
    await wait_for(lambda: len(smtp_sink.messages) >= 2, timeout=30)
    async with httpx.AsyncClient() as client:
        health = await client.get(f"http://127.0.0.1:{service.settings.http_port}/healthz")
    stop.set()
    await asyncio.wait_for(running, timeout=15)
    assert health.status_code == 200
    assert health.json() == {
        "status": "ok",
        "database": "ok",
        "consumer": "ok",
        "dispatcher": "ok",
        "care_team_alerts_undelivered": {},
    }
    by_rcpt = smtp_sink.count_by_recipient()
    assert by_rcpt["pat.smith@patmail.test"] == 1 and by_rcpt["care-team@clinic.test"] == 1


async def test_inbound_score_is_published_to_the_checkins_topic(
    kafka_service: NotifierService, prefix: str, kafka_bootstrap: str, sms_sink: HttpSmsSink
) -> None:
    service = kafka_service
    sink = KafkaCheckinSink(kafka_bootstrap, f"{prefix}checkins.v1")
    await sink.start()
    service.inbound.checkins = sink
    try:
        enrol(service.recipients, service.clock(), "p-1")
        checkin = reminder(item="fcr1r", category=Category.CHECKIN, kind=ReminderKind.CHECKIN)
        service.outbox.record([checkin], service.clock())
        await service.dispatcher.dispatch_once()
        raw = json.dumps(
            {"from": PHONE, "body": "6 a bit anxious", "message_id": "sms-42"}
        ).encode()
        headers = signed_headers(SECRET, raw)
        transport = httpx.ASGITransport(app=service.app())
        async with httpx.AsyncClient(transport=transport, base_url="http://n") as client:
            response = await client.post("/inbound/sms", content=raw, headers=headers)
        assert response.json() == {"action": "checkin"}
    finally:
        await sink.stop()

    reader = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest")
    await reader.start()
    try:
        reader.assign([TopicPartition(f"{prefix}checkins.v1", p) for p in (0, 1)])
        records = []
        deadline = time.monotonic() + 15
        while not records and time.monotonic() < deadline:
            for batch in (await reader.getmany(timeout_ms=300)).values():
                records.extend(batch)
    finally:
        await reader.stop()
    (record,) = records
    event = parse_event(record.value)
    assert isinstance(event, CheckinAnswered) and record.key == b"p-1"
    assert (event.score, event.free_text, event.self_harm) == (6, True, False)
    assert len(sms_sink.posts) == 2  # the check-in question and the support reply
