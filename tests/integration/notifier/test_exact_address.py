"""Exactly the stored address: unusual but valid addresses reach a real SMTP server unchanged.

Apprise's own address parser takes `mary.o'neil@example.org` for a name ("mary.o") and an
address ("neil@example.org"): before the fix the server got `RCPT TO:<neil@example.org>`, a
stranger (shared/cases, notifier part)."""

from __future__ import annotations

import time

import pytest
from notifier_kit import enrol, reminder

from models.templates import Message
from notifier.channels import AppriseChannel
from notifier.contacts import canonical_email
from notifier.recipients import Channel
from notifier.service import NotifierService
from notifier.sinks import SmtpSink

UNUSUAL = [
    "mary.o'neil@example.org",  # the case: apostrophe after a dot
    "o'brien@example.ie",  # apostrophe in the middle of the first atom
    "d'angelo.o'hara@example.org",
    "first.last+label@example.org",  # sub-address: Apprise calls "first.last" a label
    "+leading@example.org",
    "trailing+@example.org",
    "a!b#c$d%e&f*g=h?i^j_k`l{m|n}o~@example.org",  # every atext special character
    "slash/part@example.org",
    "-dash-@example.org",
    "x@sub.domain.example.co.uk",
    "Mixed.Case.Local@example.org",  # the local part keeps its case
    "'quote-first@example.org",
    "user@xn--bcher-kva.example",  # an IDN domain, stored in ASCII
    "1234567890@example.org",
    "a@b.example",
]


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.mark.parametrize("address", UNUSUAL)
def test_rcpt_to_is_the_stored_address(smtp_sink: SmtpSink, address: str) -> None:
    stored = canonical_email(address)  # what saving the recipient keeps
    assert stored == address
    result = AppriseChannel(Channel.EMAIL, [smtp_sink.url()]).send(stored, Message("s", "b"))
    assert result.ok, result.record()
    wait_for(lambda: smtp_sink.messages)
    (mail,) = smtp_sink.messages
    assert mail.rcpt_tos == (address,)


def test_idn_domain_is_stored_in_ascii_and_delivered_there(smtp_sink: SmtpSink) -> None:
    stored = canonical_email("user@Bücher.example")
    assert stored == "user@xn--bcher-kva.example"
    assert AppriseChannel(Channel.EMAIL, [smtp_sink.url()]).send(stored, Message("s", "b")).ok
    wait_for(lambda: smtp_sink.messages)
    assert smtp_sink.messages[0].rcpt_tos == ("user@xn--bcher-kva.example",)


async def test_whole_path_from_saved_recipient_to_rcpt_to(
    service: NotifierService, smtp_sink: SmtpSink
) -> None:
    enrol(
        service.recipients,
        service.clock(),
        email="mary.o'neil@example.org",
        phone=None,
        order=(Channel.EMAIL,),
    )
    service.outbox.record([reminder()], service.clock())
    await service.dispatcher.dispatch_once()
    (row,) = service.outbox.deliveries_for("p-1")
    assert row.status == "sent" and row.channel == "email"
    wait_for(lambda: smtp_sink.messages)
    assert [m.rcpt_tos for m in smtp_sink.messages] == [("mary.o'neil@example.org",)]


def test_message_id_is_derived_from_the_reminder_id(smtp_sink: SmtpSink) -> None:
    channel = AppriseChannel(Channel.EMAIL, [smtp_sink.url()])
    for _ in range(2):  # the same reminder sent twice (a crash before it was recorded)
        assert channel.send("pat@example.org", Message("s", "b"), "rem-7f3a9c2e").ok
    channel.send("pat@example.org", Message("s", "b"))  # no id: a random Message-ID
    wait_for(lambda: len(smtp_sink.messages) == 3)
    first, second, other = (m.message_ids for m in smtp_sink.messages)
    assert first == second == ("<rem-7f3a9c2e@127.0.0.1>",)
    assert len(other) == 1 and other != first
