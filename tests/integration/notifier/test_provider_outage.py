"""A provider outage longer than the old retry schedule: SMTP down and the SMS provider answering
503 for three hours (the old schedule gave up after about 15 minutes, with one care-team alert
per reminder). Then both come back: every reminder still inside its window is delivered, none
twice, and the care team got one notice for the outage and one for the recovery."""

from __future__ import annotations

import time
import warnings
from collections import Counter
from datetime import date, timedelta

from notifier_kit import enrol, reminder

from notifier.clock import FakeClock
from notifier.service import NotifierService
from notifier.sinks import HttpSmsSink, SmtpSink

PATIENTS = 20


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


async def test_outage_then_recovery_delivers_each_reminder_once(
    service: NotifierService, smtp_sink: SmtpSink, sms_sink: HttpSmsSink, clock: FakeClock
) -> None:
    now = clock()
    for n in range(PATIENTS):
        enrol(
            service.recipients,
            now,
            f"p-{n}",
            phone=f"+1 555 201 {7700 + n}",
            email=f"p{n}@patmail.test",
        )
    reminders = [reminder(patient_id=f"p-{n}", due=date(2027, 3, 20)) for n in range(PATIENTS)]
    service.outbox.record(reminders, now)

    smtp_sink.__exit__(None, None, None)  # SMTP down: connections refused
    sms_sink.fail_next = 10**6  # SMS provider answers 503
    ended = now + timedelta(hours=3)
    while clock() < ended:
        await service.dispatcher.dispatch_once()
        clock.advance(timedelta(minutes=5))
    rows = [service.outbox.deliveries_for(f"p-{n}")[0] for n in range(PATIENTS)]
    assert {row.status for row in rows} == {"retrying"}  # waiting, not given up
    assert sms_sink.posts == []
    health = service.health.report(clock())
    assert health["dispatcher"].startswith("down: every patient channel failing")

    sms_sink.fail_next = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # aiosmtpd start-up on 3.11
        back = SmtpSink(port=smtp_sink.port).__enter__()  # the server again, on its port
    smtp_sink._controller = back._controller  # so the fixture's teardown stops this one
    if True:  # the server is up again
        for _ in range(30):
            clock.advance(timedelta(minutes=10))
            await service.dispatcher.dispatch_once()
            if (
                all(
                    service.outbox.deliveries_for(f"p-{n}")[0].status == "sent"
                    for n in range(PATIENTS)
                )
                and len(back.messages) >= 2
            ):
                break
        rows = [service.outbox.deliveries_for(f"p-{n}")[0] for n in range(PATIENTS)]
        assert {r.status for r in rows} == {"sent"}
        # each patient got the reminder exactly once: by SMS, or by e-mail when SMS failed
        time.sleep(0.5)
        by_sms = Counter(post["to"] for post in sms_sink.posts)
        by_email = Counter(r for m in back.messages for r in m.rcpt_tos if "patmail" in r)
        for n, row in enumerate(rows):
            phone, email = f"+1555201{7700 + n}", f"p{n}@patmail.test"
            assert by_sms[phone] + by_email[email] == 1, (row.patient_id, row.channel)
            assert by_sms[phone] == (row.channel == "sms")
        wait_for(lambda: len(back.messages) >= 2)
        time.sleep(0.3)
        care = [m for m in back.messages if "care-team@clinic.test" in m.rcpt_tos]
        assert [m.subject.split(" since")[0].split(" at")[0] for m in care] == [
            "[high] Patient messages failing",
            "[info] Patient messages recovered",
        ]
        assert not any(
            d.purpose == "care_team_alert"
            for n in range(PATIENTS)
            for d in service.outbox.deliveries_for(f"p-{n}")
        )
