"""Bytes in and out of Kafka: input decoding, ticks, dead letters and stored table values."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, TypeAdapter, ValidationError

from models.events import Event, parse_event, topic_stems
from models.outputs import Output
from models.parking import NO_PARKING, Parking, dump_parking, load_parking

# The bytes of a bad record kept in its dead letter: far below any producer's message limit
# (Kafka's default is 1 MB) once base64 and the envelope are added, whatever came in.
DEAD_LETTER_KEEP = 16 * 1024


class Tick(BaseModel):
    """The passage of time, published to every partition of the ticks topic."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["tick"] = "tick"
    now: AwareDatetime


_TICK = TypeAdapter(Tick)


class BadInput(Exception):
    """A record that cannot be applied; `reason` is safe to log (it never echoes payloads)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def encode_tick(now: datetime) -> bytes:
    return Tick(now=now).model_dump_json().encode()


def decode_tick(raw: bytes | None) -> Tick:
    try:
        return _TICK.validate_json(raw or b"")
    except ValidationError as exc:
        raise BadInput(f"invalid tick: {validation_summary(exc)}") from None


def decode_event(raw: bytes | None) -> Event:
    """One patient fact from its JSON bytes, or BadInput saying why not."""
    if raw is None:
        raise BadInput("empty record (tombstone)")
    try:
        return parse_event(raw)
    except ValidationError as exc:
        raise BadInput(f"invalid event: {validation_summary(exc)}") from None


def validation_summary(exc: ValidationError) -> str:
    """Error types and field paths only: pydantic's own message would echo input values."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "<root>"
        parts.append(f"{where}: {error['type']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def encode_output(output: Output) -> bytes:
    return output.model_dump_json().encode()


def check_record(event: Event, *, key: bytes | None, topic_stem: str) -> None:
    """The edge rules the schema cannot state: the record's key is its `patient_id` (the key
    chooses the partition, so another key splits the patient's state), and each event type
    arrives only on its own topic (docs/wire-format.md)."""
    if key is None:
        raise BadInput(f"{event.type}: record has no key (the key must be the patient_id)")
    if key != event.patient_id.encode():
        raise BadInput(f"{event.type}: record key is not the patient_id")
    if topic_stem not in topic_stems(event):
        raise BadInput(f"{event.type} does not belong on this topic")


def encode_dead_letter(
    raw: bytes | None, *, topic: str, partition: int, offset: int, reason: str
) -> bytes:
    """The dead letter: where the record was, why it failed, and its bytes (base64), cut to
    `DEAD_LETTER_KEEP` bytes with the whole record's size and SHA-256 to identify it."""
    kept = None if raw is None else raw[:DEAD_LETTER_KEEP]
    return json.dumps(
        {
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "reason": reason[:500],
            "size": None if raw is None else len(raw),
            "sha256": None if raw is None else hashlib.sha256(raw).hexdigest(),
            "truncated": raw is not None and len(raw) > DEAD_LETTER_KEEP,
            "value_b64": None if kept is None else base64.b64encode(kept).decode("ascii"),
        }
    ).encode()


@dataclass(frozen=True)
class Stored:
    """A patients-table value: the serialized state (empty before an enrolment), the due
    index entry it sits in, and the events parked for the patient."""

    state: bytes
    wake_at: datetime | None
    parking: Parking = NO_PARKING

    def encode(self) -> bytes:
        # One header line keeps the wake-up instant next to the state it was computed from;
        # with parked events it also gives the length of their JSON, which precedes the state.
        header = self.wake_at.isoformat() if self.wake_at else "-"
        if not self.parking:
            return header.encode() + b"\n" + self.state
        parked = dump_parking(self.parking)
        return f"{header} {len(parked)}".encode() + b"\n" + parked + self.state

    @classmethod
    def decode(cls, data: bytes) -> Stored:
        header, _, rest = data.partition(b"\n")
        when, _, size = header.partition(b" ")
        wake_at = None if when == b"-" else datetime.fromisoformat(when.decode())
        if not size:
            return cls(state=rest, wake_at=wake_at)
        length = int(size)
        return cls(rest[length:], wake_at, load_parking(rest[:length]))
