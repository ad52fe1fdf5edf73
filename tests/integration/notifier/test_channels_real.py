"""Apprise against real parts: an SMTP server and an HTTP SMS-provider stand-in."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from notifier_kit import EMAIL, enrol, reminder

from models.templates import Message
from notifier.channels import AppriseChannel
from notifier.recipients import Channel
from notifier.service import NotifierService
from notifier.sinks import HttpSmsSink, SmtpSink


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_email_reaches_the_smtp_server(smtp_sink: SmtpSink) -> None:
    channel = AppriseChannel(Channel.EMAIL, [smtp_sink.url()])
    result = channel.send(EMAIL, Message("Appointment reminder", "Please call us."))
    assert result.ok and result.services[0].status == "SUCCESS"
    wait_for(lambda: smtp_sink.messages)
    (mail,) = smtp_sink.messages
    assert mail.rcpt_tos == (EMAIL,) and mail.subject == "Appointment reminder"
    assert "Please call us." in mail.body and mail.mail_from == "clinic@example.org"


def test_sms_goes_to_the_provider_endpoint_without_a_title(sms_sink: HttpSmsSink) -> None:
    channel = AppriseChannel(Channel.SMS, [sms_sink.url()])
    assert channel.send("+15552017788", Message("subject", "Text body")).ok
    (post,) = sms_sink.posts
    assert post["to"] == "+15552017788" and post["message"] == "Text body" and post["title"] == ""


def test_provider_failure_is_a_result_not_an_exception(sms_sink: HttpSmsSink) -> None:
    sms_sink.fail_next = 1
    result = AppriseChannel(Channel.SMS, [sms_sink.url()]).send("+15552017788", Message("", "x"))
    assert not result.ok and result.services[0].status == "FAILURE"
    assert "5552017788" not in json.dumps(result.record())


def test_each_care_team_url_reports_its_own_result(smtp_sink: SmtpSink) -> None:
    dead = "mailto://127.0.0.1:1/x@clinic.test?from=a@example.org&mode=insecure&cto=0.5"
    channel = AppriseChannel(
        Channel.CARE_TEAM, [smtp_sink.url().replace("?", "/ct@clinic.test?"), dead]
    )
    result = channel.send(None, Message("[high] alert", "body"))
    assert [s.ok for s in result.services] == [True, False]
    assert result.ok  # delivered to at least one care-team channel


def test_throttle_is_off_so_a_pool_sends_many_per_second(
    smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Apprise's email plugin waits `request_rate_per_sec` (5.5 s) between two sends; ours is 0
    on every plugin that sends, so no send sleeps (shown by what Apprise's throttle sees, not
    by a stopwatch: the machine may be busy)."""
    import apprise.url

    rates: list[float] = []
    slept: list[float] = []
    throttle = apprise.url.URLBase.throttle

    def watched(plugin: apprise.url.URLBase, *args: object, **kwargs: object) -> None:
        rates.append(plugin.request_rate_per_sec)
        throttle(plugin, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(apprise.url.URLBase, "throttle", watched)
    monkeypatch.setattr(apprise.url, "time", SimpleNamespace(sleep=slept.append))
    channel = AppriseChannel(Channel.EMAIL, [smtp_sink.url()])
    with ThreadPoolExecutor(16) as pool:
        results = list(
            pool.map(lambda n: channel.send(f"p{n}@patmail.test", Message("s", "b")), range(60))
        )
    assert all(r.ok for r in results)
    assert len(rates) >= 60 and set(rates) == {0}
    assert slept == []
    wait_for(lambda: len(smtp_sink.messages) == 60)


async def test_sms_failure_falls_back_to_real_email(
    service: NotifierService, smtp_sink: SmtpSink, sms_sink: HttpSmsSink
) -> None:
    enrol(service.recipients, service.clock())
    sms_sink.fail_next = 1
    service.outbox.record([reminder()], service.clock())
    await service.dispatcher.dispatch_once()
    (row,) = service.outbox.deliveries_for("p-1")
    assert row.status == "sent" and row.channel == "email"
    assert [r["ok"] for r in json.loads(row.provider_result or "")] == [False, True]
    wait_for(lambda: smtp_sink.messages)
    assert smtp_sink.messages[0].rcpt_tos == (EMAIL,)
    assert "Riverside Clinic" in smtp_sink.messages[0].body
