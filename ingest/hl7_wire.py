"""HL7 v2 bytes to message texts: byte-order mark, segment ends, MSH-18 charset, FHS/BHS batches.

The character set is read from MSH-18 *before* decoding (the MSH segment itself is ASCII), so a
Latin-1 message decodes as Latin-1 and a UTF-8 one as UTF-8; a message that does not decode in
its declared set is an error, not a guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

BOM = b"\xef\xbb\xbf"
START_BLOCK, END_BLOCK, CARRIAGE_RETURN = b"\x0b", b"\x1c", b"\x0d"

# MSH-18 values (HL7 table 0211) that this listener decodes; anything else is refused.
CHARSETS = {
    "": "ascii",
    "ASCII": "ascii",
    "8859/1": "latin-1",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
}
_HEADERS = (b"MSH", b"FHS", b"BHS")
_LINE_ENDS = re.compile(rb"\r\n|\n|\r")


class WireError(ValueError):
    """The bytes are not an HL7 v2 message this listener can read (the reason names no data)."""

    def __init__(self, reason: str, code: str = "102") -> None:
        super().__init__(reason)
        self.code = code  # HL7 table 0357 error code for the ERR segment


def segments_of(raw: bytes) -> list[bytes]:
    """The non-empty segments of `raw`, whatever its line ends, without a byte-order mark."""
    if raw.startswith(BOM):
        raw = raw[len(BOM) :]
    return [seg for seg in _LINE_ENDS.split(raw.strip(b" \t\r\n\x0b\x1c")) if seg.strip()]


def charset_of(msh: bytes) -> str:
    """The Python codec named by MSH-18 of an MSH segment (ASCII when empty)."""
    if len(msh) < 8 or not msh.startswith(b"MSH"):
        raise WireError("the message does not start with an MSH segment", "100")
    fields = msh.split(msh[3:4])
    declared = fields[17].split(msh[4:5])[0] if len(fields) > 17 else b""
    name = declared.decode("ascii", "replace").strip().upper()
    codec = CHARSETS.get(name)
    if codec is None:
        raise WireError(f"MSH-18 character set {name!r} is not supported", "203")
    return codec


def decode_message(segments: list[bytes]) -> str:
    """One message's segments as text joined by CR, decoded in the MSH-18 character set."""
    codec = charset_of(segments[0])
    try:
        return "\r".join(seg.decode(codec) for seg in segments)
    except UnicodeDecodeError:
        # ASCII declared (or nothing declared) but 8-bit bytes sent: say so, do not guess.
        raise WireError(f"bytes that are not {codec} in a message declaring {codec}") from None


def split_messages(raw: bytes) -> Iterator[str]:
    """Every message in `raw` as text: one message, or a batch file (FHS/BHS ... BTS/FTS)."""
    for segments in split_segments(raw):
        yield decode_message(segments)


def split_segments(raw: bytes) -> Iterator[list[bytes]]:
    """Every message in `raw` as its undecoded segments (batch envelopes dropped)."""
    current: list[bytes] = []
    for segment in segments_of(raw):
        tag = segment[:3]
        if tag == b"MSH":
            if current:
                yield current
            current = [segment]
        elif tag in (b"FHS", b"BHS", b"BTS", b"FTS"):
            if current:
                yield current
            current = []
        elif current:
            current.append(segment)
        else:
            raise WireError(f"segment {tag.decode('ascii', 'replace')!r} before any MSH", "100")
    if current:
        yield current


def frame(message: bytes) -> bytes:
    """One MLLP frame: <VT> message <FS><CR>."""
    return START_BLOCK + message + END_BLOCK + CARRIAGE_RETURN


def first_header(raw: bytes) -> bytes:
    """The first three letters after any BOM (to tell an HL7 file from anything else)."""
    body = raw[len(BOM) :] if raw.startswith(BOM) else raw
    return body.lstrip()[:3]


def is_hl7(raw: bytes) -> bool:
    return first_header(raw) in _HEADERS


def not_hl7(raw: bytes) -> str | None:
    """Why the bytes of a file are no HL7 v2 at all (empty, JSON Lines, anything else), for a
    person to read after the file's name; None when they start as HL7 does (MSH, FHS or BHS)."""
    if not segments_of(raw):
        return "is empty: there is no HL7 message in it"
    if is_hl7(raw):
        return None
    first = raw.removeprefix(BOM).lstrip().split(b"\n", 1)[0].strip()
    if first.startswith(b"{") and first.endswith(b"}"):
        return (
            "is not HL7 v2 (no MSH segment): it looks like JSON Lines; send events in JSON "
            "Lines with `remission-watch publish FILE`"
        )
    return "is not HL7 v2: it does not start with an MSH segment (or an FHS/BHS batch header)"
