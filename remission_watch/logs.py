"""Structured logs for every service: one JSON object a line, contact details masked.

Our code never logs a phone number or an address; the masking guards what third-party
libraries log (Apprise names the destination). Set RW_LOG_FORMAT=text for a human format.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from notifier.redaction import RedactingFilter

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class LogSettings(BaseSettings):
    """How every command writes its log lines (read from RW_* like the services' settings)."""

    model_config = SettingsConfigDict(env_prefix="RW_", extra="ignore")

    log_format: Literal["json", "text"] = Field(
        default="json",
        description="Log lines of every command: `json` (one object a line, contact details "
        "masked) or `text` for a person reading a terminal (masked too).",
    )


class JsonFormatter(logging.Formatter):
    """`{"at", "level", "logger", "message", ...extra fields, "error"}` as one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry |= {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        elif record.exc_text:  # already formatted (and masked) by RedactingFilter
            entry["error"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(
    level: str | int = "INFO", stream: IO[str] | None = None, fmt: str | None = None
) -> logging.Handler:
    """Replace the root handlers with one that masks contact details; returns it."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter())
    if (fmt or LogSettings().log_format) == "text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    else:
        handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    return handler
