"""Keeps contact details out of logs: a filter that masks e-mail addresses and phone numbers.

Our own code never logs an address; this guards third-party loggers (Apprise logs "Sent Email
to <address>" at INFO) that see the destination because we hand it to them.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# A run of digits glued to letters (a hex digest, a compact id such as 20261130T044444Z-3f…)
# is an identifier, not a phone number: masking it would make logged ids impossible to copy.
PHONE = re.compile(r"(?<![A-Za-z0-9])\+?\d[\d\s().-]{6,}\d(?![A-Za-z0-9])")
IPV4 = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2})?")  # a date is not a phone number
# ISO 8601 dates, times and date-times (with fractions and offsets) are kept whole: matched
# before the phone pattern, so "02:11:33.123456+00:00" is never read as a number.
_CLOCK = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
TIMESTAMP = re.compile(rf"\d{{4}}-\d{{2}}-\d{{2}}(?:[T ]{_CLOCK})?|{_CLOCK}|\d{{8}}T\d{{4,6}}Z?")
_PHONE_OR_TIME = re.compile(rf"(?P<time>{TIMESTAMP.pattern})|(?P<phone>{PHONE.pattern})")
CREDENTIALS = re.compile(r"://[^/@\s]+@")
GUARDED_LOGGERS = ("apprise",)


def _phone(match: re.Match[str]) -> str:
    if match.group("time"):
        return match.group(0)
    found = match.group(0)
    digits = sum(ch.isdigit() for ch in found)
    kept = IPV4.fullmatch(found) or ISO_DATE.fullmatch(found) or digits < 7
    return found if kept else "[phone]"


def redact(text: str) -> str:
    """Mask addresses, numbers and URL credentials, also when percent-encoded (%40, %2B)."""
    text = unquote(text)
    text = CREDENTIALS.sub("://[credentials]@", text)
    return _PHONE_OR_TIME.sub(_phone, EMAIL.sub("[email]", text))


class RedactingFilter(logging.Filter):
    """Rewrites each record's message, exception trace and stack with addresses masked (never
    drops a record). An exception's text (`str(exc)`, a provider's error, a SQL statement with
    its parameters) can hold what the message never would."""

    _format = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info:
            record.exc_text = self._format.formatException(record.exc_info)
            record.exc_info = None  # formatters then print the masked exc_text
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def guard_third_party_loggers(names: tuple[str, ...] = GUARDED_LOGGERS) -> None:
    """Attach the filter once to each named logger (idempotent; call at start-up)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
