"""The local host name Apprise's SMTP connections announce, looked up once per process.

Apprise opens each SMTP connection with `smtplib.SMTP(host, port, None, ...)`; with no
`local_hostname`, smtplib works out the name for EHLO on every connection (`socket.getfqdn()`, a
reverse look-up, then `gethostbyname` when the name has no dot): about 0.1 ms of CPU per e-mail
here, and a DNS query each time where the hosts file does not answer. This gives the `smtplib`
seen by Apprise's SMTP module (only there) SMTP classes that use the name smtplib itself computes,
computed once. Nothing else changes; if Apprise's internals move, sends are just slower again.
"""

from __future__ import annotations

import functools
import smtplib
from typing import Any


class _SmtplibWithHostname:
    """The `smtplib` module, except that its SMTP classes default to one local host name."""

    def __init__(self, hostname: str) -> None:
        self.SMTP = _defaulting(smtplib.SMTP, hostname)
        self.SMTP_SSL = _defaulting(smtplib.SMTP_SSL, hostname)

    def __getattr__(self, name: str) -> Any:
        return getattr(smtplib, name)


def _defaulting(base: type[smtplib.SMTP], hostname: str) -> type[smtplib.SMTP]:
    class Smtp(base):  # type: ignore[valid-type,misc]
        def __init__(
            self,
            host: str = "",
            port: int = 0,
            local_hostname: str | None = None,
            *args: Any,
            **kwargs: Any,
        ) -> None:
            super().__init__(host, port, local_hostname or hostname, *args, **kwargs)

    Smtp.__name__ = Smtp.__qualname__ = base.__name__
    return Smtp


@functools.cache
def announce_local_hostname_once() -> bool:
    """Install the SMTP classes above in Apprise's SMTP module. Returns whether it did."""
    from notifier.channels import load_apprise_plugins

    load_apprise_plugins()
    from apprise.plugins.email import smtp

    if getattr(smtp, "smtplib", None) is not smtplib:
        return False  # Apprise changed, or already done: leave it
    smtp.smtplib = _SmtplibWithHostname(smtplib.SMTP().local_hostname)  # type: ignore[attr-defined]
    return True
