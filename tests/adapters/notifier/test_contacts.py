"""Contacts are checked when saved (email-validator, phonenumbers) and before every send."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import apprise
import pytest
from notifier_factories import enrol, reminder
from sqlalchemy import Engine

from models.templates import Message, MessageContext
from notifier.admin import RecipientIn
from notifier.channels import (
    WRONG_TARGET,
    AppriseChannel,
    ChannelResult,
    FakeChannel,
    ServiceResult,
    target_mismatch,
)
from notifier.clock import FakeClock
from notifier.contacts import ContactError, canonical_email, canonical_phone
from notifier.crypto import ContactCipher
from notifier.dispatcher import DispatchConfig, Dispatcher
from notifier.messages import MessageRenderer
from notifier.outbox import SqlOutbox
from notifier.policy import DeliveryPolicy, PolicyConfig
from notifier.recipient_store import RecipientUpdate, SqlRecipients
from notifier.recipients import Channel

URL = "mailto://127.0.0.1:2525?from=clinic@example.org&mode=insecure"

INVALID_EMAILS = [
    "no-at-sign.example.org",
    "two@@example.org",
    "a..b@example.org",
    ".lead@example.org",
    "trail.@example.org",
    '"quoted local"@example.org',
    "josé@example.org",  # needs SMTPUTF8
    "x@[127.0.0.1]",
    "x@localhost",
    "spaces in@example.org",
    "mary@example..org",
]


@pytest.mark.parametrize("text", INVALID_EMAILS)
def test_invalid_email_is_refused_without_echoing_it(text: str) -> None:
    with pytest.raises(ContactError) as caught:
        canonical_email(text)
    assert text not in str(caught.value)


def test_email_keeps_local_part_and_lowercases_the_domain() -> None:
    assert canonical_email("  Mary.O'Neil@Example.ORG ") == "Mary.O'Neil@example.org"


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("+1 (555) 201-7788", "+15552017788"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+34 612 34 56 78", "+34612345678"),
    ],
)
def test_phone_is_stored_in_e164(text: str, e164: str) -> None:
    assert canonical_phone(text) == e164


@pytest.mark.parametrize("text", ["555 201 7788", "+1 555", "+1 555 201 7788 99999", "call me"])
def test_phone_without_country_code_or_impossible_is_refused(text: str) -> None:
    with pytest.raises(ContactError) as caught:
        canonical_phone(text)
    assert text not in str(caught.value)


def test_admin_input_refuses_bad_contacts_and_keeps_canonical_ones() -> None:
    data = RecipientIn(phone="+1 555 201 7788", email="Pat@Example.org")
    assert (data.phone, data.email) == ("+15552017788", "Pat@example.org")
    with pytest.raises(ValueError, match=r"E\.164"):
        RecipientIn(phone="5552017788")
    with pytest.raises(ValueError, match="e-mail"):
        RecipientIn(email="mary@@example.org")


def test_store_refuses_an_invalid_email_even_when_called_directly(
    engine: Engine, cipher: ContactCipher, clock: FakeClock
) -> None:
    store = SqlRecipients(engine, cipher)
    with pytest.raises(ContactError):
        store.upsert("p-1", RecipientUpdate(email="not an address"), clock())
    assert store.get("p-1") is None


def test_mismatch_is_found_when_apprise_parses_the_address_its_own_way() -> None:
    plugin = apprise.Apprise.instantiate(URL + "&to=mary.o'neil@example.org")
    assert [t[1] for t in plugin.targets] == ["neil@example.org"]  # Apprise's parser, as is
    assert target_mismatch(Channel.EMAIL, plugin, "mary.o'neil@example.org") is not None
    plugin.targets = [(False, "mary.o'neil@example.org")]
    assert target_mismatch(Channel.EMAIL, plugin, "mary.o'neil@example.org") is None
    plugin.cc = {"someone@example.org"}
    assert "Cc" in (target_mismatch(Channel.EMAIL, plugin, "mary.o'neil@example.org") or "")


def test_sms_mismatch_compares_the_number() -> None:
    plugin = apprise.Apprise.instantiate("json://127.0.0.1:8025/sms?:to=%2B15552017788")
    assert target_mismatch(Channel.SMS, plugin, "+15552017788") is None
    assert target_mismatch(Channel.SMS, plugin, "+15552017789") is not None


def test_patient_email_url_with_cc_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="Cc/Bcc"):
        AppriseChannel(Channel.EMAIL, [URL + "&cc=copy@example.org"])


class RefusingChannel:
    def __init__(self, name: Channel) -> None:
        self.name = name
        self.calls = 0

    def send(
        self, address: str | None, message: Message, message_id: str | None = None
    ) -> ChannelResult:
        self.calls += 1
        return ChannelResult(self.name, (ServiceResult("target differs", WRONG_TARGET, 0),))

    def close(self) -> None:
        pass


async def test_refused_send_fails_at_once_with_reason_and_tells_the_care_team(
    engine: Engine, cipher: ContactCipher, clock: FakeClock
) -> None:
    outbox, recipients = SqlOutbox(engine), SqlRecipients(engine, cipher)
    care = FakeChannel(Channel.CARE_TEAM)
    channels: dict[Channel, Any] = {
        Channel.SMS: RefusingChannel(Channel.SMS),
        Channel.EMAIL: RefusingChannel(Channel.EMAIL),
        Channel.CARE_TEAM: care,
    }
    dispatcher = Dispatcher(
        outbox,
        recipients,
        DeliveryPolicy(PolicyConfig(max_attempts=5, backoff_base=timedelta(minutes=1))),
        MessageRenderer(MessageContext("Riverside Clinic", "+1 555 0100")),
        channels,
        clock,
        DispatchConfig(batch=10, concurrency=2),
    )
    try:
        enrol(recipients, clock())
        outbox.record([reminder()], clock())
        await dispatcher.dispatch_once()
        row = outbox.deliveries_for("p-1")[0]
        assert row.status == "failed" and "refused, not sent" in (row.status_reason or "")
        await dispatcher.dispatch_once()  # the delivery_failed alert
        assert len(care.sent) == 1 and "delivery_failed" in care.sent[0][1].body
        assert channels[Channel.SMS].calls == 1  # not retried
    finally:
        dispatcher.close()
