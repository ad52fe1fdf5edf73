"""HL7 acknowledgements built here (python-hl7's create_ack leaves MSH-7 without its offset).

Original mode (MSH-15 and MSH-16 empty): AA, AE or AR. Enhanced mode: a commit accept CA, CE or
CR, sent as MSH-15 asks (AL always, ER on error only, SU on success only, NE never).
"""

from __future__ import annotations

from datetime import datetime

from ingest.hl7_fields import Header, MessageError, format_dtm

_ENHANCED = {"AA": "CA", "AE": "CE", "AR": "CR"}
_TEXT = {
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "207": "Application internal error",
}
_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))


def escape(text: str) -> str:
    for plain, escaped in _ESCAPES:
        text = text.replace(plain, escaped)
    return text.replace("\r", " ").replace("\n", " ")


def ack_code(header: Header | None, error: MessageError | None) -> str | None:
    """The MSA-1 code, or None when the sender asked for no acknowledgement."""
    code = "AA" if error is None else error.ack
    if header is None or not header.enhanced:
        return code
    wanted = header.accept_ack or "AL"
    if wanted == "NE" or (wanted == "ER" and error is None) or (wanted == "SU" and error):
        return None
    return _ENHANCED[code]


def build_ack(header: Header | None, code: str, error: MessageError | None, now: datetime) -> str:
    """The ACK text (segments joined by CR). `now` must be timezone-aware."""
    h = header
    control = h.control_id if h else ""
    msh = [
        "MSH", "^~\\&", "RW-INGEST", "REMISSION-WATCH",
        escape(h.application) if h else "", escape(h.facility) if h else "",
        format_dtm(now), "", f"ACK^{escape(h.trigger) if h else ''}^ACK",
        escape(f"A{control}"[:199]), (h.processing_id if h else "") or "P",
        (h.version if h else "") or "2.5.1",
    ]  # fmt: skip
    if h and h.charset:
        msh += ["", "", "", "", "", escape(h.charset)]
    segments = ["|".join(msh), f"MSA|{code}|{escape(control)}"]
    if error is not None:
        cwe = f"{error.code}^{_TEXT.get(error.code, 'Error')}^HL70357"
        segments.append(f"ERR||{error.where}|{cwe}|E||||{escape(error.reason)}")
    return "\r".join(segments)
