"""Delivery channels: the `DeliveryChannel` port, `AppriseChannel` and its `FakeChannel` twin."""

from __future__ import annotations

import email.utils
import functools
import re
import smtplib
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlencode, urlsplit, urlunsplit

import apprise

from models.templates import Message
from notifier.recipients import Channel
from notifier.redaction import guard_third_party_loggers
from notifier.smtp_hostname import announce_local_hostname_once
from notifier.smtp_session import SmtpSessions, session_email_class

SAMPLE_ADDRESS = {Channel.EMAIL: "probe@example.org", Channel.SMS: "+15550100"}
WRONG_TARGET = "REFUSED_WRONG_TARGET"  # the plugin would deliver elsewhere: never sent


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def pin_email_target(plugin: Any, address: str) -> None:
    """Give an Apprise e-mail plugin exactly one recipient: `address`, as stored.

    Apprise's own address parser is lossy (`mary.o'neil@example.org` becomes
    `neil@example.org`: the apostrophe is taken for a name separator); the address was already
    checked by `email-validator` when it was saved, so it is handed over unparsed."""
    plugin.targets = [(False, address)]


def target_mismatch(channel: Channel, plugin: Any, address: str) -> str | None:
    """Why `plugin` would not deliver to exactly `address` (None: it would).

    E-mail: one To (the address), no Cc/Bcc, and the address goes into `RCPT TO` unchanged.
    SMS: the plugin's targets (when it has a list of them) are that one number, else the URL
    it posts to holds it."""
    if channel is Channel.EMAIL:
        targets = [
            entry if isinstance(entry, str) else entry[-1]
            for entry in getattr(plugin, "targets", None) or []
        ]
        if targets != [address]:
            return "e-mail plugin's recipient differs from the stored address"
        if getattr(plugin, "cc", None) or getattr(plugin, "bcc", None):
            return "e-mail URL adds Cc/Bcc recipients to a patient's message"
        if smtplib.quoteaddr(address) != f"<{address}>":
            return "the SMTP client would rewrite the address in RCPT TO"
        return None
    wanted = _digits(address)
    targets = getattr(plugin, "targets", None)
    if isinstance(targets, list) and targets:
        numbers = [
            _digits(entry if isinstance(entry, str) else str(entry[-1])) for entry in targets
        ]
        return None if numbers == [wanted] else "SMS plugin's number differs from the stored one"
    if wanted and wanted in _digits(unquote(plugin.url(privacy=False))):
        return None
    return "SMS plugin's URL does not carry the stored number"


@dataclass(frozen=True)
class ServiceResult:
    """One Apprise service's own outcome; never carries the URL or the address."""

    service: str
    status: str  # SUCCESS, FAILURE, TIMEOUT, NOMATCH, ERROR
    attempts: int = 1
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "SUCCESS"


@dataclass(frozen=True)
class ChannelResult:
    channel: Channel
    services: tuple[ServiceResult, ...]

    @property
    def ok(self) -> bool:
        """Patient channels have one service; care-team delivery counts if any service took it."""
        return any(service.ok for service in self.services)

    def record(self) -> dict[str, Any]:
        return {
            "channel": self.channel.value,
            "ok": self.ok,
            "services": [vars(service) for service in self.services],
        }


class DeliveryChannel(Protocol):
    name: Channel

    def send(
        self, address: str | None, message: Message, message_id: str | None = None
    ) -> ChannelResult: ...

    def close(self) -> None: ...


_MESSAGE_ID = threading.local()  # the Message-ID of the e-mail this thread is sending


def _make_msgid(idstring: str | None = None, domain: str | None = None) -> str:
    """Apprise's `make_msgid` for our sends: `<reminder_id@domain>`, so a message sent twice
    (a crash between the provider's acceptance and our record) carries the same Message-ID
    and receiving systems can drop the copy (RFC 5322 3.6.4). Other sends: a random one."""
    wanted = getattr(_MESSAGE_ID, "value", None)
    if wanted:
        return f"<{wanted}@{domain or 'remission-watch.invalid'}>"
    return email.utils.make_msgid(idstring, domain)


@functools.cache
def install_message_ids() -> None:
    """Point Apprise's e-mail module at `_make_msgid` (once per process)."""
    from apprise.plugins.email import base

    base.make_msgid = _make_msgid


@functools.cache
def load_apprise_plugins() -> None:
    """Apprise imports its plugins on first use; one of them pulls in the deprecated `imghdr`.
    Load them once, up front, with only that warning silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
        apprise.Apprise.instantiate("json://localhost")


def with_address(url: str, address: str) -> str:
    """Put the destination into a configured Apprise URL.

    `{to}` in the URL is replaced; else mailto(s):// gets `to=`, and any other scheme gets the
    address as one more path segment (twilio://SID:Token@From/<phone>).
    """
    if "{to}" in url:
        return url.replace("{to}", quote(address, safe="@+"))
    parts = urlsplit(url)
    if parts.scheme in ("mailto", "mailtos"):
        query = "&".join(filter(None, [parts.query, urlencode({"to": address})]))
        return urlunsplit(parts._replace(query=query))
    path = parts.path.rstrip("/") + "/" + quote(address, safe="+")
    return urlunsplit(parts._replace(path=path))


class _Target:
    """One configured Apprise URL and how to build its plugin for one address.

    Parsing an Apprise URL costs more CPU than the rest of building a plugin; for e-mail
    (`mailto://`, `mailtos://`) the URL is parsed once, with a placeholder where the patient's
    address goes, and each send builds the plugin from those parsed arguments with the address
    put in its place: the same plugin `Apprise.instantiate` would build from the full URL
    (checked at start-up by comparing both for a sample address). Any other scheme, or an
    e-mail URL where that check fails, is parsed per send as before.

    A patient e-mail plugin is Apprise's `NotifyEmail` as `SessionEmail`: it sends over the
    sending thread's open SMTP session in `sessions` instead of a connection per message."""

    PLACEHOLDER = "rw-address-placeholder@invalid.example"

    def __init__(
        self,
        name: Channel,
        url: str,
        asset: apprise.AppriseAsset,
        sessions: SmtpSessions | None = None,
    ) -> None:
        self.name, self.url, self.asset, self.sessions = name, url, asset, sessions
        self.is_email = urlsplit(url).scheme in ("mailto", "mailtos")
        self._plugin_class: type[Any] | None = None
        self._arguments: dict[str, Any] = {}
        self._slot: int | None = None  # where the address goes in the parsed `targets`
        if name is not Channel.CARE_TEAM and urlsplit(url).scheme in ("mailto", "mailtos"):
            self._parse_once()

    def _parse_once(self) -> None:
        if "{to}" in self.url:
            return
        probe = apprise.Apprise.instantiate(
            with_address(self.url, SAMPLE_ADDRESS[self.name]), asset=self.asset
        )
        if probe is None:
            return
        # Apprise's own e-mail plugin (not a provider-specific one) gets the session transport
        session_email = session_email_class()
        cls = session_email if type(probe) is session_email.__base__ else type(probe)
        parsed = cls.parse_url(with_address(self.url, self.PLACEHOLDER).replace("/#", "/%23"))
        targets = parsed.get("targets") if parsed else None
        if not isinstance(targets, list) or targets.count(self.PLACEHOLDER) != 1:
            return
        self._plugin_class, self._arguments = cls, parsed
        self._slot = targets.index(self.PLACEHOLDER)
        built = self.plugin(SAMPLE_ADDRESS[self.name])
        if built is None or built.url(privacy=False) != probe.url(privacy=False):
            self._plugin_class, self._slot = None, None  # not equivalent here: parse per send

    def plugin(self, address: str | None) -> Any:
        """A fresh plugin for `address` (None: the URL as configured), or None if invalid."""
        if self._plugin_class is None or address is None:
            target = with_address(self.url, address) if address else self.url
            return apprise.Apprise.instantiate(target, asset=self.asset)
        assert self._slot is not None
        arguments = dict(self._arguments, asset=self.asset, tag=set())
        targets = list(arguments["targets"])
        targets[self._slot] = address
        arguments["targets"] = targets
        try:
            plugin = self._plugin_class(**arguments)
        except Exception:  # as Apprise.instantiate does: an unusable plugin is None
            return None
        if isinstance(plugin, session_email_class()):
            plugin.sessions = self.sessions
        return plugin if plugin.enabled else None


class AppriseChannel:
    """Sends through Apprise URLs. One fresh plugin per send, throttle off, so a bounded pool
    of threads gives real concurrency instead of one message per `request_rate_per_sec`.

    No deadline (`service_timeout=0`, no `notify(timeout=...)`): with one, Apprise hands every
    call to its shared, process-wide pool of min(32, CPUs + 4) threads, which would serialise
    our pool behind it. Socket timeouts come from the URL (`cto`, `rto`); the outbox lease
    covers a send that hangs anyway.

    Each sending thread keeps one `Apprise` object and loads the send's plugin into it (building
    an `Apprise` costs a locale look-up); e-mail URLs are parsed once (see `_Target`), and
    each sending thread keeps its SMTP session open between patient e-mails (`SmtpSessions`);
    `close` ends them."""

    def __init__(self, name: Channel, urls: list[str]) -> None:
        if not urls:
            raise ValueError(f"{name}: no Apprise URL configured")
        self.name = name
        self.urls = list(urls)
        self.asset = apprise.AppriseAsset(service_timeout=0)
        guard_third_party_loggers()
        load_apprise_plugins()
        announce_local_hostname_once()
        install_message_ids()
        for index, url in enumerate(self.urls):
            probe = url if name is Channel.CARE_TEAM else with_address(url, SAMPLE_ADDRESS[name])
            plugin = apprise.Apprise.instantiate(probe)
            if plugin is None:
                raise ValueError(f"{name}: Apprise URL #{index + 1} is not valid")
            if name is Channel.EMAIL and (
                getattr(plugin, "cc", None) or getattr(plugin, "bcc", None)
            ):
                raise ValueError(f"{name}: Apprise URL #{index + 1} adds Cc/Bcc recipients")
        self.sessions = SmtpSessions()
        self._targets = [_Target(name, url, self.asset, self.sessions) for url in self.urls]
        self._local = threading.local()

    def close(self) -> None:
        """End the open SMTP sessions (QUIT)."""
        self.sessions.close()

    def send(
        self, address: str | None, message: Message, message_id: str | None = None
    ) -> ChannelResult:
        if self.name is not Channel.CARE_TEAM and not address:
            return ChannelResult(self.name, (ServiceResult("none", "NO_ADDRESS", 0),))
        _MESSAGE_ID.value = message_id
        try:
            results = tuple(self._send_one(target, address, message) for target in self._targets)
        finally:
            _MESSAGE_ID.value = None
        return ChannelResult(self.name, results)

    def _apprise(self) -> apprise.Apprise:
        notifier: apprise.Apprise | None = getattr(self._local, "apprise", None)
        if notifier is None:
            notifier = self._local.apprise = apprise.Apprise(asset=self.asset)
        return notifier

    def _send_one(self, target: _Target, address: str | None, message: Message) -> ServiceResult:
        started = time.monotonic()
        try:
            plugin = target.plugin(address)
            if plugin is None:
                return ServiceResult("invalid-url", "ERROR", 0)
            if address is not None and self.name is not Channel.CARE_TEAM:
                if target.is_email:
                    pin_email_target(plugin, address)
                refused = target_mismatch(self.name, plugin, address)
                if refused is not None:
                    return ServiceResult(refused, WRONG_TARGET, 0)
            plugin.request_rate_per_sec = 0  # our pool bounds the rate; see docs/notifier.md
            notifier = self._apprise()
            notifier.clear()
            notifier.add(plugin)
            try:
                result = notifier.notify(
                    body=message.body,
                    title="" if self.name is Channel.SMS else message.subject,  # no title in a text
                    body_format=apprise.NotifyFormat.TEXT,
                )
            finally:
                notifier.clear()  # the plugin holds the address: keep no reference to it
        except Exception as exc:  # Apprise should not raise; if it does, keep the address out
            return ServiceResult("apprise", f"ERROR:{type(exc).__name__}", 1)
        services = list(result)
        if not services:
            return ServiceResult("apprise", result.status.name, 0, time.monotonic() - started)
        service = services[0]
        return ServiceResult(service.name, service.status.name, len(service), service.elapsed)


@dataclass
class FakeChannel:
    """In-memory twin: records what it would send; fails the first `fail_first` sends."""

    name: Channel
    fail_first: int = 0
    sent: list[tuple[str | None, Message]] = field(default_factory=list)
    calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def send(
        self, address: str | None, message: Message, message_id: str | None = None
    ) -> ChannelResult:
        with self._lock:
            self.calls += 1
            if self.calls <= self.fail_first:
                return ChannelResult(self.name, (ServiceResult("fake", "FAILURE"),))
            self.sent.append((address, message))
        return ChannelResult(self.name, (ServiceResult("fake", "SUCCESS"),))

    def close(self) -> None:
        """Nothing to end."""
