"""One SMTP session per sending thread, against a real aiosmtpd server that counts connections."""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from models.templates import Message
from notifier.channels import AppriseChannel
from notifier.recipients import Channel
from notifier.sinks import free_port


class CountingServer(Controller):
    """An SMTP server that counts connections and records each message (RCPT TO, Message-ID).
    `drop_after_next` closes the connection that delivers the next message, just after the
    server accepted it: the client's session is dead when it sends the one after."""

    def __init__(self) -> None:
        self.connections = 0
        self.received: list[tuple[tuple[str, ...], str]] = []
        self.drop_after_next = False
        self.lock = threading.Lock()
        super().__init__(self, hostname="127.0.0.1", port=free_port())

    def factory(self) -> SMTP:
        with self.lock:
            self.connections += 1
        return super().factory()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message_id = str(message_from_bytes(envelope.content).get("Message-ID", ""))
        with self.lock:
            self.received.append((tuple(envelope.rcpt_tos), message_id))
            drop, self.drop_after_next = self.drop_after_next, False
        if drop:
            asyncio.get_running_loop().call_later(0.05, server.transport.close)
        return "250 OK"

    def url(self) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=clinic@example.org&mode=insecure"


@pytest.fixture
def server() -> Iterator[CountingServer]:
    smtp = CountingServer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # aiosmtpd start-up on 3.11
        smtp.start()
    smtp.connections = 0  # start() connects once itself, to see that the server is up
    yield smtp
    smtp.stop()


def send(channel: AppriseChannel, n: int) -> bool:
    return channel.send(f"pat{n}@example.org", Message("Reminder", f"body {n}"), f"rem-{n}").ok


def test_one_thread_sends_many_emails_over_one_connection(server: CountingServer) -> None:
    channel = AppriseChannel(Channel.EMAIL, [server.url()])
    try:
        assert all(send(channel, n) for n in range(6))
    finally:
        channel.close()
    assert server.connections == 1
    assert [rcpt for rcpt, _ in server.received] == [(f"pat{n}@example.org",) for n in range(6)]
    assert [mid.split("@")[0] for _, mid in server.received] == [f"<rem-{n}" for n in range(6)]


def test_each_sending_thread_keeps_its_own_connection(server: CountingServer) -> None:
    channel = AppriseChannel(Channel.EMAIL, [server.url()])
    barrier = threading.Barrier(3)

    def worker(first: int) -> list[bool]:
        barrier.wait()  # three threads at once: three sessions
        return [send(channel, n) for n in range(first, first + 4)]

    try:
        with ThreadPoolExecutor(3) as pool:
            results = list(pool.map(worker, (0, 10, 20)))
    finally:
        channel.close()
    assert all(ok for batch in results for ok in batch)
    assert server.connections == 3
    counts = Counter(rcpt for rcpt, _ in server.received)
    assert len(counts) == 12 and set(counts.values()) == {1}


def test_a_dropped_session_is_reopened_without_losing_or_repeating_mail(
    server: CountingServer,
) -> None:
    channel = AppriseChannel(Channel.EMAIL, [server.url()])
    try:
        assert send(channel, 0)
        server.drop_after_next = True
        assert send(channel, 1)  # accepted, then the server closes this connection
        deadline = threading.Event()
        deadline.wait(0.3)  # the close reaches the client's socket
        assert send(channel, 2)  # MAIL FROM finds the session dead: a new one, sent once
        assert send(channel, 3)
    finally:
        channel.close()
    assert server.connections == 2
    assert [rcpt for rcpt, _ in server.received] == [(f"pat{n}@example.org",) for n in range(4)]


def test_an_idle_session_is_replaced(server: CountingServer) -> None:
    channel = AppriseChannel(Channel.EMAIL, [server.url()])
    channel.sessions.max_idle = 0.0  # every session counts as idle: QUIT and a new one
    try:
        assert send(channel, 0) and send(channel, 1)
    finally:
        channel.close()
    assert server.connections == 2 and len(server.received) == 2


def test_a_server_that_is_down_fails_the_send_and_the_next_one_reconnects() -> None:
    port = free_port()
    url = f"mailto://127.0.0.1:{port}?from=clinic@example.org&mode=insecure&cto=2"
    channel = AppriseChannel(Channel.EMAIL, [url])
    try:
        assert not send(channel, 0)  # nothing listens: an outage, reported as a failure
        smtp = CountingServer()
        smtp.port = port
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            smtp.start()
        smtp.connections = 0
        try:
            assert send(channel, 1)
        finally:
            channel.close()
            smtp.stop()
    finally:
        channel.close()
    assert smtp.connections == 1 and [r for r, _ in smtp.received] == [("pat1@example.org",)]
