"""Bytes in and out of Kafka: input decoding, ticks, dead letters and stored table values."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, TypeAdapter, ValidationError

from models.events import Event, parse_event
from models.outputs import Output


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


def encode_dead_letter(
    raw: bytes | None, *, topic: str, partition: int, offset: int, reason: str
) -> bytes:
    """The dead letter: where the record was, why it failed, and its bytes (base64)."""
    return json.dumps(
        {
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "reason": reason,
            "value_b64": None if raw is None else base64.b64encode(raw).decode("ascii"),
        }
    ).encode()


@dataclass(frozen=True)
class Stored:
    """A patients-table value: the serialized state and the due index entry it sits in."""

    state: bytes
    wake_at: datetime | None

    def encode(self) -> bytes:
        # One header line keeps the wake-up instant next to the state it was computed from.
        header = self.wake_at.isoformat() if self.wake_at else "-"
        return header.encode() + b"\n" + self.state

    @classmethod
    def decode(cls, data: bytes) -> Stored:
        header, _, state = data.partition(b"\n")
        wake_at = None if header == b"-" else datetime.fromisoformat(header.decode())
        return cls(state=state, wake_at=wake_at)
