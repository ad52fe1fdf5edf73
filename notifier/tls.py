"""Cheap TLS contexts for Apprise's SMTP plugin, which builds a new `ssl` context per message.

`ssl.create_default_context()` parses the whole CA bundle file (about 25 ms of CPU, holding
the GIL), which caps e-mail at ~35 messages/s per process whatever the thread count. OpenSSL
reads a hashed CA *directory* lazily instead. This swaps the `ssl` seen by Apprise's SMTP module
(only there: nothing else in the process changes) for one whose default context trusts that
directory, which holds the same system CAs. If Apprise's internals move, nothing breaks: sends
are just slower again.

Apprise builds that context even for plain SMTP (`mode=insecure`), where it is never used. So the
context handed to Apprise is a stand-in that builds the real one (same CAs, the same settings
applied in the same order) the first time TLS actually needs it; plain SMTP never pays for it.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any


class _DeferredContext:
    """An `ssl.SSLContext` built on first use. Attribute writes made before then (Apprise sets
    `check_hostname` and `verify_mode` for `verify=no`) are replayed on the real context."""

    def __init__(self, build: Callable[[], ssl.SSLContext]) -> None:
        object.__setattr__(self, "_build", build)
        object.__setattr__(self, "_pending", [])
        object.__setattr__(self, "_context", None)

    def _real(self) -> ssl.SSLContext:
        context: ssl.SSLContext | None = object.__getattribute__(self, "_context")
        if context is None:
            context = object.__getattribute__(self, "_build")()
            for name, value in object.__getattribute__(self, "_pending"):
                setattr(context, name, value)
            object.__setattr__(self, "_context", context)
        return context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        if object.__getattribute__(self, "_context") is None:
            object.__getattribute__(self, "_pending").append((name, value))
        else:
            setattr(self._real(), name, value)


class _CaDirectorySsl:
    """The `ssl` module, except that a plain default context loads CAs from a directory."""

    def __init__(self, capath: str) -> None:
        self._capath = capath

    def __getattr__(self, name: str) -> Any:
        return getattr(ssl, name)

    def create_default_context(self, purpose: Any = ssl.Purpose.SERVER_AUTH, **kwargs: Any) -> Any:
        if kwargs or purpose is not ssl.Purpose.SERVER_AUTH:
            return ssl.create_default_context(purpose, **kwargs)
        return _DeferredContext(lambda: ssl.create_default_context(purpose, capath=self._capath))


def system_ca_directory() -> str | None:
    """The hashed CA directory, if the process trusts the system store (no custom CA file)."""
    paths = ssl.get_default_verify_paths()
    chosen = os.environ.get("SSL_CERT_FILE")
    if chosen and Path(chosen).resolve() != Path(paths.openssl_cafile).resolve():
        return None  # a custom CA bundle (a private relay's CA): leave it alone
    capath = os.environ.get("SSL_CERT_DIR") or paths.capath
    if not capath or not any(Path(capath).glob("*.0")):
        return None
    return capath


def prefer_ca_directory() -> bool:
    """Make Apprise's SMTP contexts cheap (see module doc). Returns whether it did."""
    capath = system_ca_directory()
    if capath is None:
        return False
    from notifier.channels import load_apprise_plugins

    load_apprise_plugins()  # imports Apprise's plugins once, warning-clean
    from apprise.plugins.email import smtp

    if getattr(smtp, "ssl", None) is not ssl and not isinstance(smtp.ssl, _CaDirectorySsl):
        return False
    smtp.ssl = _CaDirectorySsl(capath)  # type: ignore[attr-defined]
    return True
