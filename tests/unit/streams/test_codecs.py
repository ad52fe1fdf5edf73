"""Decoding at the edge: reasons without input values, dead letters, stored values."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime

import pytest

from streams.codecs import (
    DEAD_LETTER_KEEP,
    BadInput,
    Stored,
    decode_event,
    decode_tick,
    encode_dead_letter,
    encode_tick,
)
from tests.unit.streams.conftest import T0, event


def test_a_tick_round_trips() -> None:
    now = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
    assert decode_tick(encode_tick(now)).now == now


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff",
        b'{"type": "tick", "now": "2026-01-01T00:00:00"}',  # naive
        b'{"type": "tick"}',
        None,
    ],
)
def test_bad_ticks_are_bad_input(raw: bytes | None) -> None:
    with pytest.raises(BadInput):
        decode_tick(raw)


def test_the_reason_names_fields_never_values() -> None:
    raw = event("p1", "e1", "checkin.answered", T0, phone="+15551234567", score=99)
    with pytest.raises(BadInput) as caught:
        decode_event(raw)
    assert "+15551234567" not in caught.value.reason
    assert "99" not in caught.value.reason
    assert "phone" in caught.value.reason


def test_a_dead_letter_keeps_the_bytes_and_where_they_came_from() -> None:
    letter = json.loads(
        encode_dead_letter(b"\x00bad", topic="rw.labs.v1", partition=3, offset=42, reason="x")
    )
    assert letter == {
        "topic": "rw.labs.v1",
        "partition": 3,
        "offset": 42,
        "reason": "x",
        "size": 4,
        "sha256": hashlib.sha256(b"\x00bad").hexdigest(),
        "truncated": False,
        "value_b64": base64.b64encode(b"\x00bad").decode(),
    }


def test_a_dead_letter_stays_far_below_the_producer_limit_whatever_came_in() -> None:
    huge = b'{"type":"lab.resulted","note":"' + b"x" * 3_000_000 + b'"}'
    encoded = encode_dead_letter(huge, topic="rw.labs.v1", partition=0, offset=7, reason="r" * 5000)
    letter = json.loads(encoded)

    assert len(encoded) < 64 * 1024  # Kafka's default message limit is 1 MB
    assert letter["truncated"] is True and letter["size"] == len(huge)
    assert letter["sha256"] == hashlib.sha256(huge).hexdigest()
    assert base64.b64decode(letter["value_b64"]) == huge[:DEAD_LETTER_KEEP]


@pytest.mark.parametrize("wake_at", [None, datetime(2026, 1, 1, tzinfo=UTC)])
def test_stored_values_round_trip(wake_at: datetime | None) -> None:
    stored = Stored(b'{"state": "with\\nnewlines\n"}', wake_at)
    assert Stored.decode(stored.encode()) == stored


def test_each_event_kind_has_its_source_topic() -> None:
    from streams.topics import TopicNames

    names = TopicNames("rw.")
    assert names.for_event("response.assessed") == "rw.assessments.v1"
    assert names.for_event("scan.resulted") == "rw.scans.v1"
    assert names.for_event("lab.resulted") == "rw.labs.v1"
    assert names.for_event("checkin.answered") == "rw.checkins.v1"
    assert names.for_event("patient.enrolled") == "rw.patients.v1"
    assert names.for_event("event.retracted") == "rw.patients.v1"


def test_every_fact_type_has_an_input_topic() -> None:
    from models.events import EVENT_TYPES, TOPIC_STEMS

    facts = {t.model_fields["type"].default for t in EVENT_TYPES}
    assert facts - {"event.corrected", "event.retracted"} == set(TOPIC_STEMS)
