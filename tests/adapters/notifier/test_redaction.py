"""Log masking: contacts are masked in messages and exception traces; timestamps stay whole."""

from __future__ import annotations

import io
import json
import logging

import pytest

from notifier.redaction import RedactingFilter, redact
from remission_watch.logs import configure_logging


@pytest.mark.parametrize(
    "stamp",
    [
        "2027-03-10T02:11:33.123456+00:00",
        "2027-03-10T02:11:33Z",
        "2027-03-10 02:11:33,123",
        "02:11:33.123456",
        "2027-03-10T02:11:33-0500",
        "2027-03-10",
    ],
)
def test_iso_timestamps_are_left_alone(stamp: str) -> None:
    # before: "2027-03-10T02:11:[phone]+00:00"
    assert redact(f"retry at {stamp} for p-1") == f"retry at {stamp} for p-1"


@pytest.mark.parametrize(
    "text", ["+1 555 201 7788", "+15552017788", "(555) 201-7788", "mary.o'neil@example.org"]
)
def test_contacts_are_still_masked(text: str) -> None:
    assert text not in redact(f"sent to {text} at 2027-03-10T02:11:33Z")
    assert "2027-03-10T02:11:33Z" in redact(f"sent to {text} at 2027-03-10T02:11:33Z")


@pytest.mark.parametrize(
    "ident", ["20261130T044444Z-e40ec07afc26ee9e", "msg-0b1234567afc", "sha256:9f86d0818844"]
)
def test_identifiers_with_long_digit_runs_are_left_alone(ident: str) -> None:
    # before: "quarantined as [phone]T044444Z-e40ec07afc26ee9e", an id nobody could copy
    assert redact(f"quarantined as {ident}") == f"quarantined as {ident}"


def test_exception_traces_are_masked_in_json_and_text_logs() -> None:
    root = logging.getLogger()
    for fmt in ("json", "text"):
        out = io.StringIO()
        saved, level = list(root.handlers), root.level
        handler = configure_logging("INFO", stream=out, fmt=fmt)
        try:
            try:
                raise RuntimeError("provider refused +1 555 201 7788 and pat@example.org")
            except RuntimeError:
                logging.getLogger("notifier.test").exception("send failed")
        finally:
            root.removeHandler(handler)
            for old in saved:
                root.addHandler(old)
            root.setLevel(level)
        text = out.getvalue()
        assert "send failed" in text and "RuntimeError" in text and "[phone]" in text
        assert "201 7788" not in text and "pat@example.org" not in text
        if fmt == "json":
            assert "[email]" in json.loads(text.splitlines()[0])["error"]


def test_filter_masks_stack_info() -> None:
    record = logging.makeLogRecord({"msg": "x", "stack_info": "call +1 555 201 7788"})
    RedactingFilter().filter(record)
    assert record.stack_info == "call [phone]"
