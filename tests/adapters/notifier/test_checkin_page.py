"""Check-ins that work by e-mail: a signed, expiring link to a one-question page (issue 11.4)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from notifier_factories import PHONE, enrol, reminder

from models.outputs import Category, ReminderKind
from models.templates import MessageKind
from notifier.channels import FakeChannel
from notifier.checkin_links import CheckinLinks, LinkRefused, derive_link_key
from notifier.checkins import FakeCheckinSink
from notifier.clock import FakeClock
from notifier.inbound import signed_headers
from notifier.recipient_store import RecipientUpdate
from notifier.recipients import Channel
from notifier.service import NotifierService
from notifier.settings import NotifierSettings

SECRET, TOKEN = "inbound-test-secret-0123456789-abcdef", "admin-test-token-0123456789-abcdef"
PUBLIC = "https://care.example.org/rw"
LINK = re.compile(r"https://care\.example\.org/rw(/checkin/\S+)")
REMINDER_ID = "rem-0123456789abcdef01234567"


# -- the token ---------------------------------------------------------------------------------


def _links(secret: str = SECRET) -> CheckinLinks:
    return CheckinLinks(derive_link_key(secret), PUBLIC)


def test_token_round_trips_and_carries_only_the_reminder_id() -> None:
    links = _links()
    token = links.token(REMINDER_ID, now=1_000_000)
    assert links.verify(token, now=1_000_000 + 13 * 86_400) == REMINDER_ID
    reminder_id, expires, signature = token.split(".")
    assert (reminder_id, int(expires)) == (REMINDER_ID, 1_000_000 + 14 * 86_400)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", signature)  # 256-bit HMAC, base64url
    assert links.url(REMINDER_ID, 0).startswith(f"{PUBLIC}/checkin/{REMINDER_ID}.")


def test_token_expires_after_14_days() -> None:
    links = _links()
    token = links.token(REMINDER_ID, now=1_000_000)
    with pytest.raises(LinkRefused) as refused:
        links.verify(token, now=1_000_000 + 14 * 86_400)
    assert refused.value.reason == "expired"


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
        lambda t: t.replace("rem-0", "rem-1", 1),  # another reminder
        lambda t: ".".join([t.split(".")[0], str(int(t.split(".")[1]) + 86_400), t.split(".")[2]]),
        lambda t: _links("another-secret-0123456789-abcdefgh").token(REMINDER_ID, 1_000_000),
        lambda t: signed_headers(SECRET, REMINDER_ID.encode(), 1_000_000)["X-RW-Signature"],
    ],
    ids=["signature", "reminder", "expiry", "other-key", "webhook-signature"],
)
def test_forged_tokens_are_refused(forge) -> None:  # type: ignore[no-untyped-def]
    links = _links()
    with pytest.raises(LinkRefused) as refused:
        links.verify(forge(links.token(REMINDER_ID, now=1_000_000)), now=1_000_001)
    assert refused.value.reason in ("forged", "malformed")


def test_a_token_never_carries_a_patient_id() -> None:
    with pytest.raises(ValueError, match="opaque"):
        _links().token("p-1 pat.smith@example.org", now=0)


# -- the page, through the service --------------------------------------------------------------


class Page:
    def __init__(self, service: NotifierService, client: httpx.AsyncClient) -> None:
        self.service, self.client = service, client
        self.email: FakeChannel = service.dispatcher.channels[Channel.EMAIL]  # type: ignore[assignment]
        self.sms: FakeChannel = service.dispatcher.channels[Channel.SMS]  # type: ignore[assignment]
        self.checkins: FakeCheckinSink = service.checkins  # type: ignore[assignment]
        self.last_email = ""

    async def send_checkin(self, language: str = "en") -> str:
        """An e-mail check-in goes out; returns the link's path, read from the e-mail body."""
        self.service.recipients.upsert(
            "p-1", RecipientUpdate(language=language), self.service.clock()
        )
        checkin = reminder(item="fcr1r", category=Category.CHECKIN, kind=ReminderKind.CHECKIN)
        self.service.outbox.record([checkin], self.service.clock())
        await self.service.dispatcher.dispatch_once()
        ((_, message),) = self.email.sent
        self.email.sent.clear()
        self.last_email = message.body
        found = LINK.search(message.body)
        assert found is not None, message.body
        return found.group(1)


@pytest.fixture
async def page(database_url: str, clock: FakeClock) -> AsyncIterator[Page]:
    settings = NotifierSettings(
        database_url=database_url,
        encryption_keys="cnctZGV2LWtleS1ub3QtZm9yLXByb2R1Y3Rpb24tISE=",  # type: ignore[arg-type]
        allow_dev_key=True,
        inbound_secret=SECRET,  # type: ignore[arg-type]
        admin_token=TOKEN,  # type: ignore[arg-type]
        public_url=PUBLIC,
    )
    channels = {c: FakeChannel(c) for c in Channel}
    service = NotifierService(settings, clock, channels, FakeCheckinSink())
    # An e-mail-only patient: e-mail first, SMS consent never given.
    enrol(service.recipients, clock(), consent=(Channel.EMAIL,), order=(Channel.EMAIL,))
    transport = httpx.ASGITransport(app=service.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://notifier") as client:
        yield Page(service, client)
    service.close()


@pytest.mark.parametrize(
    ("language", "asks", "anchors"),
    [
        (
            "en",
            "answer with a number from 0 (not at all) to 10 (a lot) at this link",
            ("not at all", "a lot"),
        ),
        ("es", "del 0 (nada) al 10 (muchísimo) en este enlace", ("nada", "muchísimo")),
    ],
)
async def test_checkin_email_links_to_a_page_with_eleven_choices(
    page: Page, language: str, asks: str, anchors: tuple[str, str]
) -> None:
    path = await page.send_checkin(language)
    assert asks in page.last_email and "reply to this email" not in page.last_email.lower()
    assert "p-1" not in path and "example.org" not in path.split("/checkin/")[0]
    response = await page.client.get(path)
    assert response.status_code == 200
    values = re.findall(r'type="radio" name="score" value="(\d+)"', response.text)
    assert values == [str(n) for n in range(11)]
    assert all(anchor in response.text for anchor in anchors)
    assert '<textarea id="comment" name="comment"' in response.text
    assert f'lang="{language}"' in response.text
    assert response.headers["referrer-policy"] == "no-referrer"
    folded = response.text.lower()
    assert "cancer" not in folded and "oncolog" not in folded and "cáncer" not in folded


async def test_checkin_email_asks_for_the_link_not_a_reply(page: Page) -> None:
    checkin = reminder(item="fcr1r", category=Category.CHECKIN, kind=ReminderKind.CHECKIN)
    page.service.outbox.record([checkin], page.service.clock())
    await page.service.dispatcher.dispatch_once()
    ((_, message),) = page.email.sent
    assert "reply to this email" not in message.body.lower()
    assert f"at this link: {PUBLIC}/checkin/{checkin.reminder_id}." in message.body


async def test_a_score_on_the_page_is_the_same_event_an_sms_reply_gives(
    page: Page, clock: FakeClock
) -> None:
    path = await page.send_checkin()
    clock.advance(timedelta(hours=2))
    response = await page.client.post(path, data={"score": "7", "comment": ""})
    assert response.status_code == 200 and "Thank you" in response.text
    (event,) = page.checkins.published
    # What an SMS "7" gives (tests/adapters/notifier/test_http_api.py): only the source differs.
    assert (event.type, event.instrument, event.patient_id, event.score) == (
        "checkin.answered",
        "fcr1r",
        "p-1",
        7,
    )
    assert (event.free_text, event.self_harm, event.source) == (False, False, "notifier.web")
    assert event.event_id.startswith("checkin-") and event.occurred_at == clock()
    stored = page.service.inbox.seen(f"web-{path.split('/')[-1].split('.')[0]}")
    assert stored is not None and stored.action == "checkin" and stored.published
    # The same reply an SMS score of 7 gets (checkin_support), by the patient's channel.
    replies = [d for d in page.service.outbox.deliveries_for("p-1") if d.purpose == "reply"]
    assert [json.loads(d.payload or "{}")["kind"] for d in replies] == ["checkin_support"]
    assert replies[0].status == "sent" and replies[0].channel == "email"


async def test_crisis_wording_in_the_free_text_takes_the_self_harm_path(page: Page) -> None:
    path = await page.send_checkin("es")
    response = await page.client.post(path, data={"score": "3", "comment": "a veces quiero morir"})
    assert response.status_code == 200
    (event,) = page.checkins.published
    assert event.self_harm and event.free_text and event.score == 3
    replies = [d for d in page.service.outbox.deliveries_for("p-1") if d.purpose == "reply"]
    assert [json.loads(d.payload or "{}")["kind"] for d in replies] == [
        MessageKind.CRISIS_RESOURCES.value
    ]
    assert "988" in response.text  # the crisis resources are on the page at once, too


async def test_free_text_alone_is_kept_unscored(page: Page) -> None:
    path = await page.send_checkin()
    response = await page.client.post(path, data={"comment": "My scan is in 3 days"})
    assert response.status_code == 200
    (event,) = page.checkins.published
    assert (event.score, event.free_text, event.self_harm) == (None, True, False)


async def test_a_link_answers_once(page: Page) -> None:
    path = await page.send_checkin()
    assert (await page.client.post(path, data={"score": "2"})).status_code == 200
    again = await page.client.post(path, data={"score": "9"})
    assert again.status_code == 409 and "already been answered" in again.text
    assert (await page.client.get(path)).status_code == 409
    assert [e.score for e in page.checkins.published] == [2]


async def test_an_expired_link_is_refused(page: Page, clock: FakeClock) -> None:
    path = await page.send_checkin()
    clock.advance(timedelta(days=14, seconds=1))
    refused = [await page.client.get(path), await page.client.post(path, data={"score": "4"})]
    for response in refused:
        assert response.status_code == 410 and "expired" in response.text
    assert page.checkins.published == []


async def test_forged_links_and_bad_forms_are_refused(page: Page) -> None:
    path = await page.send_checkin()
    forged = path[:-2] + ("AA" if not path.endswith("AA") else "BB")
    assert (await page.client.get(forged)).status_code == 404
    assert (await page.client.post(forged, data={"score": "4"})).status_code == 404
    # A correctly signed link for a reminder that was never sent is no better.
    unsent = page.service.links.url(REMINDER_ID, page.service.clock().timestamp())
    assert (await page.client.get(unsent.removeprefix(PUBLIC))).status_code == 404
    for form in ({"score": "11"}, {"score": "-1"}, {}, {"comment": "x" * 1601}):
        assert (await page.client.post(path, data=form)).status_code == 422
    big = await page.client.post(path, content=b"comment=" + b"x" * 9000)
    assert big.status_code == 413
    assert page.checkins.published == []
    assert (await page.client.post(path, data={"score": "0"})).status_code == 200


async def test_sms_checkins_still_ask_for_a_reply(page: Page) -> None:
    enrol(page.service.recipients, page.service.clock(), phone=PHONE)
    checkin = reminder(item="fcr1r", category=Category.CHECKIN, kind=ReminderKind.CHECKIN)
    page.service.outbox.record([checkin], page.service.clock())
    await page.service.dispatcher.dispatch_once()
    ((_, message),) = page.sms.sent
    assert "Reply 0 (not at all) to 10 (a lot)" in message.body and "/checkin/" not in message.body
