"""Local stand-ins for providers, for demo runs, tests and benchmarks: an SMTP sink (aiosmtpd)
and an HTTP endpoint that plays an SMS provider's API (Apprise's json:// posts to it)."""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from dataclasses import dataclass
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    subject: str
    body: str
    message_ids: tuple[str, ...] = ()  # every Message-ID header (there should be one)


class _MailHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content)
        payload = parsed.get_payload(decode=True) if not parsed.is_multipart() else b""
        mail = ReceivedMail(
            envelope.mail_from,
            tuple(envelope.rcpt_tos),
            str(parsed.get("Subject", "")),
            (payload or b"").decode("utf-8", "replace") if isinstance(payload, bytes) else "",
            tuple(str(value) for value in parsed.get_all("Message-ID", [])),
        )
        with self.sink.lock:
            self.sink.messages.append(mail)
            self.sink.record(mail)
        return "250 Message accepted for delivery"


class SmtpSink:
    """An SMTP server on a free loopback port that keeps what it receives in memory."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host, self.port = host, port or free_port(host)
        self.messages: list[ReceivedMail] = []
        self.lock = threading.Lock()
        self._controller = Controller(_MailHandler(self), hostname=self.host, port=self.port)

    def url(self, sender: str = "clinic@example.org") -> str:
        """An Apprise mailto:// URL for this sink (plain SMTP, no login)."""
        return f"mailto://{self.host}:{self.port}?from={sender}&mode=insecure"

    def record(self, mail: ReceivedMail) -> None:
        """Hook for subclasses; the base sink keeps messages in memory only."""

    def count_by_recipient(self) -> Counter[str]:
        with self.lock:
            return Counter(rcpt for mail in self.messages for rcpt in mail.rcpt_tos)

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


class HttpSmsSink:
    """An HTTP endpoint standing in for an SMS provider's API: records each JSON post.

    `fail_next` makes the next N requests answer 503 (to exercise fallback and retries).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.posts: list[dict[str, Any]] = []
        self.fail_next = 0
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with sink.lock:
                    failing = sink.fail_next > 0
                    sink.fail_next -= 1 if failing else 0
                    if not failing:
                        sink.posts.append(json.loads(raw or b"{}"))
                self.send_response(503 if failing else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:  # keep request lines out of logs
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self.host, self.port = host, int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self) -> str:
        """An Apprise json:// URL; `{to}` is where the recipient's number goes."""
        return f"json://{self.host}:{self.port}/sms?:to={{to}}"

    def __enter__(self) -> HttpSmsSink:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class RecordingSmtpSink(SmtpSink):
    """An SmtpSink that also appends one line per recipient to a file (for another process)."""

    def __init__(self, record_to: str, host: str = "127.0.0.1", port: int | None = None) -> None:
        super().__init__(host, port)
        self._file = open(record_to, "a", buffering=1)  # noqa: SIM115  line-buffered, kept open

    def record(self, mail: ReceivedMail) -> None:
        self._file.writelines(f"{rcpt}\n" for rcpt in mail.rcpt_tos)


def main() -> None:
    """`python -m notifier.sinks --port N --record FILE`: an SMTP sink in its own process."""
    import argparse
    import signal
    import time

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", required=True)
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with RecordingSmtpSink(args.record, port=args.port):
        while not stop.is_set():
            time.sleep(0.2)


if __name__ == "__main__":
    main()
