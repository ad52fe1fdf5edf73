"""Deterministic identifiers derived from content (never random): the basis of idempotency."""

from __future__ import annotations

import hashlib
import struct


def derive_id(prefix: str, *parts: object) -> str:
    """A stable id: `prefix-` and 24 hex chars of SHA-256 over the parts joined by `|`.

    The same parts always give the same id, so a replay or redelivery is absorbed downstream.
    """
    text = "|".join(str(part) for part in parts)
    return f"{prefix}-{hashlib.sha256(text.encode()).hexdigest()[:24]}"


def digest64(text: str) -> int:
    """A signed 64-bit digest of `text`: how the journal names events, orders and treatments."""
    digest: int = _SIGNED_BIG_ENDIAN(_blake2b(text.encode(), digest_size=8).digest())[0]
    return digest


# Module-level names: digest64 runs for every event.
_blake2b = hashlib.blake2b
_SIGNED_BIG_ENDIAN = struct.Struct(">q").unpack  # int.from_bytes(..., "big", signed=True)
