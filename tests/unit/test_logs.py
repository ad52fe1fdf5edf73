"""Structured logs: JSON lines, extra fields kept, contact details masked whoever logs them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from remission_watch.logs import configure_logging


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("INFO", stream=stream, fmt="json")
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved:
        root.addHandler(handler)
    root.setLevel(level)


def test_a_line_is_one_json_object_with_its_extra_fields(captured: io.StringIO) -> None:
    logging.getLogger("streams.worker").info("tick settled", extra={"partition": 3})
    entry = json.loads(captured.getvalue())
    assert entry["level"] == "info" and entry["logger"] == "streams.worker"
    assert entry["message"] == "tick settled" and entry["partition"] == 3
    assert entry["at"].endswith("+00:00")


def test_contact_details_are_masked_even_from_third_party_loggers(
    captured: io.StringIO,
) -> None:
    logging.getLogger("apprise").info("Sent Email to jane.doe@example.org via mailto")
    logging.getLogger("some.library").warning("SMS to +1 555 201 7788 failed")
    text = captured.getvalue()
    assert "jane.doe@example.org" not in text and "201 7788" not in text
    assert "[email]" in text and "[phone]" in text
    assert len(text.strip().splitlines()) == 2


def test_dates_are_not_mistaken_for_phone_numbers(captured: io.StringIO) -> None:
    logging.getLogger("streams.processor").info("tick 2024-03-11T00:00:00+00:00 on partition 1")
    logging.getLogger("some.library").info("due 2024-03-11 10:00, call +44 7700 900123")
    text = captured.getvalue()
    assert "tick 2024-03-11T00:00:00+00:00" in text and "due 2024-03-11 10:00" in text
    assert "7700 900123" not in text and "[phone]" in text
