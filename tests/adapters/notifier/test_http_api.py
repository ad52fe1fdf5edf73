"""The HTTP API: signed inbound SMS (STOP, HELP, check-in scores) and the bearer admin API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from notifier_factories import PHONE, enrol, reminder

from models.outputs import Category, ReminderKind
from models.templates import MessageKind
from notifier.channels import FakeChannel
from notifier.checkins import FakeCheckinSink
from notifier.clock import FakeClock
from notifier.inbound import signed_headers
from notifier.recipient_store import RecipientUpdate
from notifier.recipients import Channel
from notifier.service import NotifierService
from notifier.settings import NotifierSettings

SECRET, TOKEN = "inbound-test-secret-0123456789", "admin-test-token-0123456789"


class Api:
    def __init__(self, service: NotifierService, client: httpx.AsyncClient) -> None:
        self.service, self.client = service, client
        self.sms: FakeChannel = service.dispatcher.channels[Channel.SMS]  # type: ignore[assignment]
        self.checkins: FakeCheckinSink = service.checkins  # type: ignore[assignment]

    async def inbound(
        self, body: str, message_id: str, sender: str = PHONE, sign: str | None = None
    ):
        raw = json.dumps({"from": sender, "body": body, "message_id": message_id}).encode()
        headers = signed_headers(SECRET, raw)
        if sign is not None:
            headers["X-RW-Signature"] = sign
        return await self.client.post("/inbound/sms", content=raw, headers=headers)

    def consent(self, channel: Channel = Channel.SMS) -> bool:
        recipient = self.service.recipients.get("p-1")
        assert recipient is not None
        return recipient.consents[channel].granted


@pytest.fixture
async def api(database_url: str, clock: FakeClock) -> AsyncIterator[Api]:
    settings = NotifierSettings(
        database_url=database_url,
        encryption_keys="cnctZGV2LWtleS1ub3QtZm9yLXByb2R1Y3Rpb24tISE=",  # type: ignore[arg-type]
        allow_dev_key=True,
        inbound_secret=SECRET,  # type: ignore[arg-type]
        admin_token=TOKEN,  # type: ignore[arg-type]
    )
    channels = {c: FakeChannel(c) for c in Channel}
    service = NotifierService(settings, clock, channels, FakeCheckinSink())
    enrol(service.recipients, clock())
    transport = httpx.ASGITransport(app=service.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://notifier") as client:
        yield Api(service, client)
    service.close()


async def test_bad_signature_is_401_and_changes_nothing(api: Api) -> None:
    response = await api.inbound("STOP", "m-1", sign="00" * 32)
    assert response.status_code == 401
    assert api.consent() and api.sms.sent == []


async def test_unknown_sender_is_404_and_changes_nothing(api: Api) -> None:
    response = await api.inbound("STOP", "m-1", sender="+1 555 999 0000")
    assert response.status_code == 404
    assert "555" not in response.text
    assert api.service.inbox.seen("m-1") is None


@pytest.mark.parametrize("raw", [b"not json", b'{"from": "+15552017788"}', b"[]"])
async def test_malformed_body_is_422(api: Api, raw: bytes) -> None:
    response = await api.client.post(
        "/inbound/sms", content=raw, headers=signed_headers(SECRET, raw)
    )
    assert response.status_code == 422
    assert "5552017788" not in response.text


async def test_stop_revokes_at_once_and_confirms_exactly_once(api: Api) -> None:
    first = await api.inbound("  Stop ", "m-1")
    again = await api.inbound("STOP", "m-1")  # the provider retries the webhook
    later = await api.inbound("unsubscribe", "m-2")  # a second STOP: no second confirmation
    assert [r.json()["action"] for r in (first, again, later)] == [
        "opt_out",
        "duplicate",
        "opt_out_repeat",
    ]
    assert not api.consent()
    assert len(api.sms.sent) == 1
    confirmation = api.service.renderer.for_reply(MessageKind.OPT_OUT_CONFIRMATION, "en")
    assert api.sms.sent[0][1] == confirmation
    # and no more reminders by SMS
    api.service.outbox.record([reminder()], api.service.clock())
    await api.service.dispatcher.dispatch_once()
    assert len(api.sms.sent) == 1


async def test_start_restores_sms_consent_after_stop(api: Api) -> None:
    await api.inbound("STOP", "m-1")
    response = await api.inbound("start", "m-2")
    assert response.json() == {"action": "opt_in"} and api.consent()
    assert (await api.inbound("START", "m-3")).json() == {"action": "unrecognised"}


async def test_help_gets_the_help_text(api: Api) -> None:
    response = await api.inbound("help", "m-1")
    assert response.json() == {"action": "help"}
    assert len(api.sms.sent) == 1 and "+1 555 0100" in api.sms.sent[0][1].body
    assert api.consent()


async def _send_checkin(api: Api) -> None:
    checkin = reminder(item="fcr1r", category=Category.CHECKIN, kind=ReminderKind.CHECKIN)
    api.service.outbox.record([checkin], api.service.clock())
    await api.service.dispatcher.dispatch_once()
    api.sms.sent.clear()


async def test_score_after_a_checkin_becomes_an_event(api: Api, clock: FakeClock) -> None:
    await _send_checkin(api)
    clock.advance(timedelta(hours=2))
    response = await api.inbound("7", "m-9")
    assert response.json() == {"action": "checkin"}
    (event,) = api.checkins.published
    assert (event.patient_id, event.score, event.free_text, event.self_harm) == (
        "p-1",
        7,
        False,
        False,
    )
    assert event.event_id.startswith("checkin-") and event.occurred_at == clock()
    await api.inbound("7", "m-9")  # redelivered webhook: same event is not published again
    assert len(api.checkins.published) == 1
    assert len(api.sms.sent) == 1  # one checkin_support reply (score >= 5)


async def test_self_harm_words_get_crisis_resources_at_once(api: Api) -> None:
    await _send_checkin(api)
    response = await api.inbound("9 honestly I want to die", "m-10")
    assert response.json() == {"action": "checkin"}
    (event,) = api.checkins.published
    assert event.self_harm and event.free_text and event.score == 9
    assert len(api.sms.sent) == 1
    assert api.service.outbox.deliveries_for("p-1")[-1].status == "sent"


async def test_score_without_an_open_checkin_publishes_nothing(api: Api) -> None:
    response = await api.inbound("5", "m-1")
    assert response.json() == {"action": "no_open_checkin"}
    assert api.checkins.published == []


def _auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_admin_requires_the_bearer_token(api: Api) -> None:
    assert (await api.client.get("/admin/recipients/p-1")).status_code == 401
    assert (
        await api.client.get("/admin/recipients/p-1", headers=_auth("wrong"))
    ).status_code == 401


async def test_admin_recipient_consent_and_why_view(api: Api) -> None:
    put = await api.client.put(
        "/admin/recipients/p-7",
        json={
            "phone": "+1 555 777 1234",
            "email": "x@example.org",
            "time_zone": "Europe/Madrid",
            "language": "es",
        },
        headers=_auth(),
    )
    assert put.status_code == 200
    assert put.json()["phone"] == "on file, ends 34" and "777" not in put.text
    consent = await api.client.post(
        "/admin/recipients/p-7/consents",
        json={"channel": "email", "granted": True, "method": "portal", "unencrypted_ack": True},
        headers=_auth(),
    )
    assert consent.json()["consents"]["email"]["granted"] is True
    api.service.outbox.record([reminder(patient_id="p-7")], api.service.clock())
    await api.service.dispatcher.dispatch_once()
    listing = (await api.client.get("/admin/patients/p-7/deliveries", headers=_auth())).json()
    (delivery,) = listing
    assert delivery["status"] == "sent" and delivery["channel"] == "email"
    assert "sms: consent never recorded" not in delivery["why"]
    assert [step["action"] for step in delivery["trail"]] == ["recorded", "sent"]


async def test_admin_validation_errors_do_not_echo_contacts(api: Api) -> None:
    bad = await api.client.put(
        "/admin/recipients/p-8", json={"phone": "12", "email": "nope"}, headers=_auth()
    )
    assert bad.status_code == 422 and "nope" not in bad.text
    missing = await api.client.post(
        "/admin/recipients/p-404/consents",
        json={"channel": "sms", "granted": True, "method": "x"},
        headers=_auth(),
    )
    assert missing.status_code == 404


async def test_metrics_count_deliveries_without_patient_data(api: Api) -> None:
    api.service.outbox.record([reminder()], api.service.clock())
    await api.service.dispatcher.dispatch_once()
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    text = response.text
    assert 'rw_notifier_deliveries_total{purpose="reminder",status="sent"} 1.0' in text
    # No patient ids, no phone numbers (whole: a timestamp sample such as 1.796020945553e+09
    # holds "555" by chance, which made this test fail now and then).
    assert "p-1" not in text
    assert not any(number in text for number in ("5552017788", "201-7788", "2017788"))


@pytest.mark.parametrize("wording", ["ALTO", "PARAR", "CANCELAR", "Stop please", "No more texts"])
async def test_reasonable_opt_out_wording_revokes_with_one_confirmation(
    api: Api, wording: str
) -> None:
    # shared/cases (notifier): these were "unrecognised" and consent stayed granted.
    # 47 CFR 64.1200(a)(10): revocation by any reasonable means.
    response = await api.inbound(wording, "m-1")
    assert response.json() == {"action": "opt_out"}
    assert not api.consent()
    assert len(api.sms.sent) == 1
    assert api.sms.sent[0][1] == api.service.renderer.for_reply(
        MessageKind.OPT_OUT_CONFIRMATION, "en"
    )
    trail = api.service.outbox.audit_for("p-1")
    assert wording not in json.dumps([entry.reason for entry in trail])  # wording not stored


async def test_spanish_help_is_answered_in_the_recipients_language(api: Api) -> None:
    api.service.recipients.upsert("p-1", RecipientUpdate(language="es"), api.service.clock())
    response = await api.inbound("Ayuda", "m-1")
    assert response.json() == {"action": "help"}
    assert api.sms.sent[0][1] == api.service.renderer.for_reply(MessageKind.HELP, "es")
    assert api.sms.sent[0][1] != api.service.renderer.for_reply(MessageKind.HELP, "en")


async def test_ambiguous_answer_is_kept_unscored_and_the_patient_asked_once(api: Api) -> None:
    # shared/cases: "My scan is in 3 days, I'd say 8" was recorded as 3.
    await _send_checkin(api)
    first = await api.inbound("My scan is in 3 days, I'd say 8", "m-1")
    second = await api.inbound("maybe 7 or 8", "m-2")
    assert [r.json()["action"] for r in (first, second)] == ["unscored", "unscored"]
    assert [(e.score, e.free_text) for e in api.checkins.published] == [(None, True)] * 2
    asks = [m for _, m in api.sms.sent]
    assert asks == [api.service.renderer.for_reply(MessageKind.CHECKIN_ASK_NUMBER, "en")]
    answer = await api.inbound("8", "m-3")
    assert answer.json() == {"action": "checkin"}
    assert api.checkins.published[-1].score == 8


async def test_self_harm_inside_an_opt_out_still_reaches_the_crisis_path(api: Api) -> None:
    response = await api.inbound("STOP I want to kill myself", "m-1")
    assert response.json() == {"action": "opt_out"}
    assert not api.consent()
    (event,) = api.checkins.published
    assert event.self_harm and event.score is None
    kinds = {m for _, m in api.sms.sent}
    assert api.service.renderer.for_reply(MessageKind.CRISIS_RESOURCES, "en") in kinds
