"""One SMTP session per sending thread, for Apprise's e-mail plugin.

Apprise opens, secures, logs into and quits one SMTP connection per `notify()` (it reuses one
only across the recipients of a single notification; keeping connections between calls is out of
its scope, caronc/apprise#735). For a notifier sending thousands of e-mails that is a TCP (and
TLS, and AUTH) handshake per message. `SessionEmail` is Apprise's own `NotifyEmail` (same URL
parsing, same MIME building through `NotifyEmail.prepare_emails`, same `Message-ID` hook, same
target pinning) whose transport is instead this thread's open session in `SmtpSessions`.

A session is re-opened, never trusted blindly:
- a session idle for longer than `max_idle` is closed with QUIT and a new one opened (servers
  drop idle clients, typically after 1-5 minutes);
- a reused session that turns out dead before the message was handed over (the server closed
  it: `MAIL FROM` gets no answer or 421) is replaced by a new connection and the message sent
  on it, once: nothing was transmitted, so this can neither lose nor duplicate it;
- any failure after `DATA` started closes the session and reports the send failed, exactly as
  a failed one-connection send did (the dispatcher's retry policy takes over; a copy sent then
  carries the same `Message-ID`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import smtplib
import ssl
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)
SMTP_ERRORS = (OSError, smtplib.SMTPException)


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to connect; one session per thread per distinct server."""

    host: str
    port: int
    secure_mode: str  # "insecure", "ssl" (implicit TLS) or "starttls", as Apprise names them
    user: str | None
    password: str | None
    verify_certificate: bool
    timeout: float


class SmtpSessions:
    """Open SMTP sessions, one per (thread, server). `send` is called from the sending threads;
    each uses only its own session, so sessions need no lock of their own."""

    def __init__(self, max_idle: float = 30.0, local_hostname: str | None = None) -> None:
        self.max_idle = max_idle
        self._local_hostname = local_hostname
        self._lock = threading.Lock()
        self._open: dict[tuple[int, SmtpServer], tuple[smtplib.SMTP, float]] = {}
        self.connections_opened = 0
        # a channel dropped without `close` (a test, a replaced channel) still closes its sockets
        weakref.finalize(self, _close_sockets, self._open)

    def send(self, server: SmtpServer, from_addr: str, to_addrs: list[str], message: str) -> bool:
        """Send one prepared message on this thread's session to `server`; whether the server
        accepted it for every recipient."""
        key = (threading.get_ident(), server)
        with self._lock:
            smtp, last_used = self._open.pop(key, (None, 0.0))
        if smtp is not None and time.monotonic() - last_used > self.max_idle:
            _quit(smtp)
            smtp = None
        reused = smtp is not None
        try:
            if smtp is None:
                smtp = self._connect(server)
            try:
                accepted = self._transaction(smtp, from_addr, to_addrs, message)
            except _NotHandedOver:
                if not reused:
                    raise
                _quit(smtp)  # the server dropped our idle session: nothing was sent
                smtp = self._connect(server)
                accepted = self._transaction(smtp, from_addr, to_addrs, message)
        except _NotHandedOver as exc:
            log.warning("SMTP server refused the session: %s", exc.reason)
            if smtp is not None:
                _quit(smtp)
            return False
        except SMTP_ERRORS as exc:
            log.warning("SMTP send failed (%s)", type(exc).__name__)
            if smtp is not None:
                _quit(smtp)
            return False
        with self._lock:
            self._open[key] = (smtp, time.monotonic())
        return accepted

    def _connect(self, server: SmtpServer) -> smtplib.SMTP:
        context = None
        if server.secure_mode != "insecure":  # plain SMTP: no context (it parses the CA file)
            context = ssl.create_default_context()
            if not server.verify_certificate:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        smtp: smtplib.SMTP
        if server.secure_mode == "ssl":
            smtp = smtplib.SMTP_SSL(
                server.host,
                server.port,
                self._local_hostname,
                timeout=server.timeout,
                context=context,
            )
        else:
            smtp = smtplib.SMTP(server.host, server.port, self._local_hostname, server.timeout)
        try:
            if server.secure_mode == "starttls":
                smtp.starttls(context=context)
            elif server.secure_mode not in ("ssl", "insecure"):
                raise smtplib.SMTPException(f"unknown SMTP secure mode {server.secure_mode!r}")
            if server.user and server.password:
                smtp.login(server.user, server.password)
        except BaseException:
            _quit(smtp)
            raise
        with self._lock:
            self.connections_opened += 1
        return smtp

    @staticmethod
    def _transaction(smtp: smtplib.SMTP, from_addr: str, to_addrs: list[str], message: str) -> bool:
        """MAIL, RCPT, DATA (smtplib's `sendmail`, step by step, so that a session found dead
        at MAIL, before anything of the message went out, can be told from a failure later)."""
        try:
            smtp.ehlo_or_helo_if_needed()
            code, _ = smtp.mail(from_addr)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _NotHandedOver(type(exc).__name__) from exc
        if code == 421:  # "service not available, closing transmission channel"
            raise _NotHandedOver("421")
        if code != 250:
            _reset(smtp)
            return False
        for address in to_addrs:
            code, _ = smtp.rcpt(address)
            if code not in (250, 251):
                log.warning("SMTP server refused a recipient (%d)", code)
                _reset(smtp)
                return False
        code, _ = smtp.data(message)  # str: smtplib turns line ends into CRLF
        if code != 250:
            _reset(smtp)
            return False
        return True

    def close(self) -> None:
        """QUIT every open session (at shutdown)."""
        with self._lock:
            sessions = list(self._open.values())
            self._open.clear()
        for smtp, _ in sessions:
            _quit(smtp)


def _close_sockets(sessions: dict[Any, tuple[smtplib.SMTP, float]]) -> None:
    for smtp, _ in list(sessions.values()):
        with contextlib.suppress(*SMTP_ERRORS):
            smtp.close()
    sessions.clear()


class _NotHandedOver(Exception):
    """The session failed before the message was handed over: safe to send it elsewhere."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _reset(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(*SMTP_ERRORS):
        smtp.rset()


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except SMTP_ERRORS:
        with contextlib.suppress(*SMTP_ERRORS):
            smtp.close()


@functools.cache
def session_email_class() -> type[Any]:
    """`SessionEmail`, built on first use: importing Apprise's e-mail plugin loads Apprise's
    plugins, which must happen once, warning-clean (`load_apprise_plugins`), not at import."""
    from notifier.channels import load_apprise_plugins

    load_apprise_plugins()
    from apprise.plugins.email import NotifyEmail

    class SessionEmail(NotifyEmail):
        """Apprise's `NotifyEmail`, sending over `sessions` (set by the channel after it builds the
        plugin) instead of a connection of its own. Without `sessions`, Apprise's own send."""

        sessions: SmtpSessions | None = None

        def send(
            self,
            body: str,
            title: str = "",
            notify_type: Any = None,
            attach: Any = None,
            body_format: Any = None,
            **kwargs: Any,
        ) -> bool:
            if self.sessions is None:
                return bool(super().send(body, title, notify_type, attach, body_format, **kwargs))
            if not self.targets:
                return False
            self.throttle()
            headers = {"X-Application": self.app_id, **self.headers, **self._protocol_headers(body)}
            try:
                messages = list(
                    NotifyEmail.prepare_emails(
                        subject=title,
                        body=body,
                        notify_format=self.resolve_format(body_format),
                        from_addr=self.from_addr,
                        to=self.targets,
                        cc=self.cc,
                        bcc=self.bcc,
                        reply_to=self.reply_to,
                        smtp_host=self.smtp_host,
                        attach=attach,
                        headers=headers,
                        names=self.names,
                        pgp=self.pgp,
                        pgp_mode=self.pgp_mode,
                        inline=self.inline,
                        tzinfo=self.tzinfo,
                    )
                )
            except Exception as exc:  # Apprise's own send reports these as a failed send
                log.warning("e-mail could not be built (%s)", type(exc).__name__)
                return False
            server = SmtpServer(
                self.smtp_host,
                int(self.port),
                str(self.secure_mode),
                self.user,
                self.password,
                bool(self.verify_certificate),
                float(self.socket_connect_timeout),
            )
            ok = True
            for message in messages:
                if self.is_delivered(message.recipient):
                    continue
                if self.sessions.send(server, self.from_addr[1], message.to_addrs, message.body):
                    self.mark_delivered(message.recipient)
                else:
                    ok = False
            return ok

    return SessionEmail
