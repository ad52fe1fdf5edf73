"""AppriseChannel builds the same Apprise plugin whether the URL is parsed per send or once."""

from __future__ import annotations

import smtplib

import apprise
import pytest

from notifier.channels import AppriseChannel, with_address
from notifier.recipients import Channel

EMAIL_URLS = [
    "mailto://127.0.0.1:2525?from=clinic@example.org&mode=insecure",
    "mailtos://user:pass@smtp.example.org?from=Clinic%20Desk%20%3Cdesk@example.org%3E",
    "mailto://smtp.example.org/copy@clinic.test?from=clinic@example.org",
    "mailto://user@example.org?pass=secret&smtp=relay.example.org&mode=ssl",
]
ADDRESSES = ["pat.smith@patmail.test", "a.b+tag@example.org", "o'brien@example.ie"]


@pytest.mark.parametrize("url", EMAIL_URLS)
def test_email_url_parsed_once_gives_the_plugin_apprise_would_build(url: str) -> None:
    channel = AppriseChannel(Channel.EMAIL, [url])
    (target,) = channel._targets
    assert target._plugin_class is not None  # the parse-once path is in use
    for address in ADDRESSES:
        reference = apprise.Apprise.instantiate(with_address(url, address), asset=channel.asset)
        built = target.plugin(address)
        assert built is not reference and reference is not None
        assert built.url(privacy=False) == reference.url(privacy=False)
        assert built.targets == reference.targets
        assert target.PLACEHOLDER not in built.url(privacy=False)


@pytest.mark.parametrize(
    ("name", "url"),
    [
        (Channel.SMS, "json://127.0.0.1:8025/sms?:to={to}"),
        (Channel.EMAIL, "mailto://127.0.0.1:2525?from=clinic@example.org&to={to}"),
        (Channel.CARE_TEAM, "mailto://127.0.0.1:2525/team@clinic.test?from=a@example.org"),
    ],
)
def test_other_urls_are_parsed_per_send(name: Channel, url: str) -> None:
    channel = AppriseChannel(name, [url])
    (target,) = channel._targets
    assert target._plugin_class is None
    address = None if name is Channel.CARE_TEAM else "+15552017788"
    expected = with_address(url, address) if address else url
    reference = apprise.Apprise.instantiate(expected, asset=channel.asset)
    assert target.plugin(address).url(privacy=False) == reference.url(privacy=False)


def test_apprise_smtp_announces_the_host_name_smtplib_would_compute() -> None:
    AppriseChannel(Channel.EMAIL, [EMAIL_URLS[0]])  # installs it
    from apprise.plugins.email import smtp

    assert smtp.smtplib is not smtplib  # only Apprise's SMTP module sees the change
    assert smtp.smtplib.SMTP().local_hostname == smtplib.SMTP().local_hostname
    assert smtp.smtplib.SMTP(local_hostname="given.example").local_hostname == "given.example"
    assert smtp.smtplib.SMTPException is smtplib.SMTPException
    assert issubclass(smtp.smtplib.SMTP_SSL, smtplib.SMTP_SSL)
