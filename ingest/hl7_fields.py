"""Reading fields out of a python-hl7 message: components, escapes, timestamps, the header."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import hl7

_DTM = re.compile(
    r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d{1,4})?(?:([+-])(\d{2})(\d{2}))?$"
)


class MessageError(ValueError):
    """A message this feed cannot take. `ack` is AE (error) or AR (reject); `code` is from
    HL7 table 0357; `where` is an ERR-2 location such as "PID^1^3". No patient data inside."""

    def __init__(self, reason: str, code: str = "207", ack: str = "AE", where: str = "") -> None:
        super().__init__(reason)
        self.reason, self.code, self.ack, self.where = reason, code, ack, where


class Segment:
    """One segment's fields, split once from its text (MSH-1 is the field separator itself)."""

    __slots__ = ("fields", "tag")

    def __init__(self, line: str, sep: str) -> None:
        self.fields = line.split(sep)
        self.tag = self.fields[0]
        if self.tag in ("MSH", "FHS", "BHS"):
            self.fields.insert(1, sep)


@functools.lru_cache(maxsize=64)
def _encoding(tag: str, sep: str, characters: str) -> hl7.Message:
    """python-hl7's reading of a header's separators and escape character (MSH-1, MSH-2), made
    once per distinct pair: its `unescape` and `separators` are all the Reader needs of it."""
    if tag != "MSH" or not sep or len(characters) < 4:
        raise ValueError("not an MSH segment with its encoding characters")
    return hl7.parse(f"MSH{sep}{characters}")


class Reader:
    """Components of one message's segments, unescaped, by 1-based HL7 positions.

    python-hl7 reads the encoding characters (MSH-1, MSH-2) and does the unescaping;
    the other segments are split here once, on demand of the mapping: a full python-hl7 parse
    built a tree of every component that the mapping never read (most of a backfill's CPU)."""

    def __init__(self, text: str) -> None:
        """`text` is one message, segments joined by CR, MSH first."""
        lines = text.strip().split("\r")
        self.message = _encoding(lines[0][:3], lines[0][3:4], lines[0][4:].split(lines[0][3:4])[0])
        separators = self.message.separators  # "\r|~^&"
        self.sep, self.rep, self.comp = separators[1], separators[2], separators[3]
        self.sub = separators[4]
        self.segments = [Segment(line, self.sep) for line in lines if line]

    def segment(self, name: str) -> Segment:
        """The first segment named `name` (KeyError when there is none)."""
        for segment in self.segments:
            if segment.tag == name:
                return segment
        raise KeyError(name)

    def all(self, name: str) -> list[Segment]:
        return [segment for segment in self.segments if segment.tag == name]

    def field(self, segment: Segment, number: int) -> str:
        """Field `number` as sent (escapes kept)."""
        fields = segment.fields
        return fields[number] if len(fields) > number else ""

    def get(self, segment: Segment, number: int, comp: int = 1, rep: int = 1) -> str:
        """Field `number`, repetition `rep`, component `comp` (first sub-component), unescaped."""
        fields = segment.fields
        text = fields[number] if len(fields) > number else ""
        if not text:
            return ""
        if rep > 1 or self.rep in text:
            reps = text.split(self.rep)
            if rep > len(reps):
                return ""
            text = reps[rep - 1]
        if comp > 1 or self.comp in text:
            parts = text.split(self.comp)
            text = parts[comp - 1] if comp <= len(parts) else ""
        if self.sub in text:
            text = text.split(self.sub)[0]
        return self.message.unescape(text) if "\\" in text else text

    def repetitions(self, segment: Segment, number: int) -> int:
        text = self.field(segment, number)
        return text.count(self.rep) + 1 if text else 0

    def unescape(self, value: str) -> str:
        return self.message.unescape(value) if "\\" in value else value


@functools.lru_cache(maxsize=4096)  # a message repeats its timestamps; a backfill, its days
def parse_dtm(text: str, zone: ZoneInfo, where: str) -> datetime:
    """An HL7 DTM as an aware datetime; without an offset it is read in the facility's zone."""
    match = _DTM.match(text.strip())
    if not match:
        raise MessageError(f"{where} is not an HL7 timestamp", "102", where=where)
    year, month, day, hour, minute, second, sign, oh, om = match.groups()
    try:
        moment = datetime(
            int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
            int(second or 0), tzinfo=zone,
        )  # fmt: skip
    except ValueError:
        raise MessageError(f"{where} is not a valid date", "102", where=where) from None
    if sign is None:
        return moment
    offset = timedelta(hours=int(oh), minutes=int(om))
    return moment.replace(tzinfo=timezone(offset if sign == "+" else -offset))


def format_dtm(moment: datetime) -> str:
    """YYYYMMDDHHMMSS+ZZZZ (the offset always present: the ACK's MSH-7)."""
    return moment.strftime("%Y%m%d%H%M%S%z")


@dataclass(frozen=True)
class Header:
    """What MSH says about a message: who sent it, what it is, how to acknowledge it."""

    application: str
    facility: str
    receiving_application: str
    receiving_facility: str
    sent_at_text: str
    message_type: str
    trigger: str
    control_id: str
    processing_id: str
    version: str
    accept_ack: str  # MSH-15: AL, NE, ER, SU or "" (original mode)
    application_ack: str  # MSH-16
    charset: str  # MSH-18 as sent

    @property
    def enhanced(self) -> bool:
        return bool(self.accept_ack or self.application_ack)

    @classmethod
    def of(cls, reader: Reader) -> Header:
        msh = reader.segment("MSH")
        g = reader.get
        return cls(
            application=g(msh, 3),
            facility=g(msh, 4),
            receiving_application=g(msh, 5),
            receiving_facility=g(msh, 6),
            sent_at_text=g(msh, 7),
            message_type=g(msh, 9, 1),
            trigger=g(msh, 9, 2),
            control_id=g(msh, 10),
            processing_id=g(msh, 11),
            version=g(msh, 12),
            accept_ack=g(msh, 15).upper(),
            application_ack=g(msh, 16).upper(),
            charset=g(msh, 18),
        )
