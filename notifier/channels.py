"""Delivery channels: the `DeliveryChannel` port, `AppriseChannel` and its `FakeChannel` twin."""

from __future__ import annotations

import functools
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import apprise

from models.templates import Message
from notifier.recipients import Channel
from notifier.redaction import guard_third_party_loggers

SAMPLE_ADDRESS = {Channel.EMAIL: "probe@example.org", Channel.SMS: "+15550100"}


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

    def send(self, address: str | None, message: Message) -> ChannelResult: ...


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


class AppriseChannel:
    """Sends through Apprise URLs. One fresh plugin per send, throttle off, so a bounded pool
    of threads gives real concurrency instead of one message per `request_rate_per_sec`.

    No deadline (`service_timeout=0`, no `notify(timeout=...)`): with one, Apprise hands every
    call to its shared, process-wide pool of min(32, CPUs + 4) threads, which would serialise
    our pool behind it. Socket timeouts come from the URL (`cto`, `rto`); the outbox lease
    covers a send that hangs anyway."""

    def __init__(self, name: Channel, urls: list[str]) -> None:
        if not urls:
            raise ValueError(f"{name}: no Apprise URL configured")
        self.name = name
        self.urls = list(urls)
        self.asset = apprise.AppriseAsset(service_timeout=0)
        guard_third_party_loggers()
        load_apprise_plugins()
        for index, url in enumerate(self.urls):
            probe = url if name is Channel.CARE_TEAM else with_address(url, SAMPLE_ADDRESS[name])
            if apprise.Apprise.instantiate(probe) is None:
                raise ValueError(f"{name}: Apprise URL #{index + 1} is not valid")

    def send(self, address: str | None, message: Message) -> ChannelResult:
        if self.name is not Channel.CARE_TEAM and not address:
            return ChannelResult(self.name, (ServiceResult("none", "NO_ADDRESS", 0),))
        results = tuple(self._send_one(url, address, message) for url in self.urls)
        return ChannelResult(self.name, results)

    def _send_one(self, url: str, address: str | None, message: Message) -> ServiceResult:
        started = time.monotonic()
        try:
            target = with_address(url, address) if address else url
            plugin = apprise.Apprise.instantiate(target, asset=self.asset)
            if plugin is None:
                return ServiceResult("invalid-url", "ERROR", 0)
            plugin.request_rate_per_sec = 0  # our pool bounds the rate; see docs/notifier.md
            notifier = apprise.Apprise(asset=self.asset)
            notifier.add(plugin)
            result = notifier.notify(
                body=message.body,
                title="" if self.name is Channel.SMS else message.subject,  # no title in a text
                body_format=apprise.NotifyFormat.TEXT,
            )
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

    def send(self, address: str | None, message: Message) -> ChannelResult:
        with self._lock:
            self.calls += 1
            if self.calls <= self.fail_first:
                return ChannelResult(self.name, (ServiceResult("fake", "FAILURE"),))
            self.sent.append((address, message))
        return ChannelResult(self.name, (ServiceResult("fake", "SUCCESS"),))
