"""`deliveries list` answers "was she reminded about the CT?": item, due date, kind, channel,
status and a reason in words, times in the patient's zone (issue 11, item 8)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from notifier_factories import enrol, reminder

from models.outputs import AlertKind, CareTeamAlert, Severity, alert_id
from notifier.channels import FakeChannel
from notifier.checkins import FakeCheckinSink
from notifier.clock import FakeClock
from notifier.recipients import Channel
from notifier.service import NotifierService
from notifier.settings import NotifierSettings


@pytest.fixture
def service(database_url: str, clock: FakeClock) -> Iterator[NotifierService]:
    settings = NotifierSettings(database_url=database_url, allow_dev_key=True, max_attempts=1)
    channels = {c: FakeChannel(c) for c in (Channel.SMS, Channel.EMAIL)}  # no care team
    service = NotifierService(settings, clock, channels, FakeCheckinSink())
    yield service
    service.close()


async def test_the_nurse_navigator_sees_what_was_sent_and_why(
    service: NotifierService, clock: FakeClock
) -> None:
    enrol(service.recipients, clock(), zone="America/Los_Angeles")
    ct = reminder(item="ct_chest")
    clock.advance(timedelta(hours=1))  # 16:00 UTC = 08:00 in Los Angeles (PST): sent
    service.outbox.record([ct], clock())
    await service.dispatcher.dispatch_once()
    clock.advance(timedelta(hours=8))  # 00:00 UTC = 16:00 local; then a late-evening lab
    lab = reminder(item="cea", due=ct.due + timedelta(days=30))
    service.outbox.record([lab], clock())
    clock.advance(timedelta(hours=5, minutes=30))  # 05:30 UTC = 21:30 local: outside the window
    await service.dispatcher.dispatch_once()
    alert = CareTeamAlert(
        patient_id="p-1",
        alert_id=alert_id("p-1", AlertKind.HIGH_FEAR, "x"),
        kind=AlertKind.HIGH_FEAR,
        severity=Severity.HIGH,
        reason="check-in score 8",
        raised_at=clock(),
        respond_by=clock() + timedelta(days=2),
    )
    service.outbox.record([alert], clock())
    await service.dispatcher.dispatch_once()

    sent, deferred, unsent = service.admin.deliveries("p-1")
    assert (sent["kind"], sent["item"], sent["due"]) == (
        "reminder: scan due",
        "ct_chest",
        "2027-03-20",
    )
    assert (sent["channel"], sent["status"]) == ("sms", "sent")
    assert sent["sent_at"] == "2027-03-10T08:00-08:00"  # the patient's zone, not UTC
    assert sent["time_zone"] == "America/Los_Angeles"
    assert (deferred["item"], deferred["status"]) == ("cea", "deferred")
    assert deferred["next_attempt_at"] == "2027-03-11T08:00-08:00"
    assert "outside sending window 08:00-21:00 America/Los_Angeles" in deferred["why"]
    assert unsent["kind"] == "care-team alert: high_fear"
    assert "no care-team channel configured" in unsent["why"]  # words, not "attempt 2 failed"
    assert all(entry["at"].endswith("-08:00") for entry in sent["trail"])


def test_cli_table_names_item_due_date_and_status(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    from notifier.database import upgrade_schema
    from remission_watch.cli import main

    url = f"sqlite:///{tmp_path / 'n.db'}"
    upgrade_schema(url)
    monkeypatch.setenv("RW_DATABASE_URL", url)
    monkeypatch.setenv("RW_ALLOW_DEV_KEY", "1")
    settings = NotifierSettings(database_url=url, allow_dev_key=True)
    service = NotifierService(settings, channels={}, checkins=FakeCheckinSink())
    try:
        clock = FakeClock(reminder().emitted_at)
        enrol(service.recipients, clock(), zone="America/New_York")
        service.outbox.record([reminder(item="ct_chest")], clock())
    finally:
        service.close()
    assert main(["notifier-admin", "deliveries", "list", "--patient", "p-1"]) == 0
    out = capsys.readouterr().out
    assert "ct_chest" in out and "2027-03-20" in out and "pending" in out
    assert "America/New_York" in out
    assert main(["notifier-admin", "deliveries", "list", "--patient", "Jane Doe"]) == 2
