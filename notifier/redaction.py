"""Keeps contact details out of logs: a filter that masks e-mail addresses and phone numbers.

Our own code never logs an address; this guards third-party loggers (Apprise logs "Sent Email
to <address>" at INFO) that see the destination because we hand it to them.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
PHONE = re.compile(r"\+?\d[\d\s().-]{6,}\d")
IPV4 = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2})?")  # a date is not a phone number
CREDENTIALS = re.compile(r"://[^/@\s]+@")
GUARDED_LOGGERS = ("apprise",)


def _phone(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = sum(ch.isdigit() for ch in found)
    kept = IPV4.fullmatch(found) or ISO_DATE.fullmatch(found) or digits < 7
    return found if kept else "[phone]"


def redact(text: str) -> str:
    """Mask addresses, numbers and URL credentials, also when percent-encoded (%40, %2B)."""
    text = unquote(text)
    text = CREDENTIALS.sub("://[credentials]@", text)
    return PHONE.sub(_phone, EMAIL.sub("[email]", text))


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with addresses masked (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        return True


def guard_third_party_loggers(names: tuple[str, ...] = GUARDED_LOGGERS) -> None:
    """Attach the filter once to each named logger (idempotent; call at start-up)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
