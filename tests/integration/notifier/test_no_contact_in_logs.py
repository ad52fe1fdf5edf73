"""No phone number or e-mail address of a patient in any log line, at DEBUG, during a send,
an inbound STOP and a check-in reply."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from notifier_kit import SECRET, enrol, reminder

from notifier.inbound import signed_headers
from notifier.recipients import Channel
from notifier.service import NotifierService
from notifier.sinks import HttpSmsSink, SmtpSink

FORBIDDEN = ("5552017788", "201-7788", "201 7788", "(555)", "pat.smith", "patmail")


async def test_send_and_stop_leave_no_contact_details_in_logs(
    service: NotifierService,
    smtp_sink: SmtpSink,
    sms_sink: HttpSmsSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    enrol(service.recipients, service.clock(), order=(Channel.EMAIL, Channel.SMS))
    enrol(service.recipients, service.clock(), patient_id="p-2")
    service.outbox.record([reminder(), reminder(patient_id="p-2")], service.clock())
    sms_sink.fail_next = 1  # p-2's SMS fails and falls back to email: failure paths log too
    await service.dispatcher.dispatch_once()
    assert {d.status for p in ("p-1", "p-2") for d in service.outbox.deliveries_for(p)} == {"sent"}

    raw = json.dumps({"from": "+1 (555) 201-7788", "body": "STOP", "message_id": "m-1"}).encode()
    headers = signed_headers(SECRET, raw)
    transport = httpx.ASGITransport(app=service.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://n") as client:
        response = await client.post("/inbound/sms", content=raw, headers=headers)
        unknown = raw.replace(b"201-7788", b"201-0000")
        await client.post("/inbound/sms", content=unknown, headers=signed_headers(SECRET, unknown))
    assert response.json() == {"action": "opt_out"}
    assert len(sms_sink.posts) == 1  # the one confirmation

    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]  # the SMTP sink's own
    assert any(r.name.startswith("apprise") for r in ours), "apprise logging was not captured"
    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in ours)
    for needle in FORBIDDEN:
        assert needle not in text, f"contact detail {needle!r} leaked into logs"
