"""A patient's events kept compactly, in time order: the source the state is derived from.

Each event is reduced to one fixed-size record packed into a `bytes` string (26 bytes), so a
patient with hundreds of events costs a few kilobytes, not hundreds of pydantic objects. The
record order is (occurred_at, event digest): any arrival order yields the same bytes.
Variable-size payloads (a profile, an assessment's measurements) live beside it in `blobs`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import starmap
from typing import NamedTuple

# at: occurred_at in whole seconds since the Unix epoch (unsigned, so until 2106); code: event
# kind; digest: 64-bit event id digest;
# ref: index into `names`; aux (signed 64 bits) and aux2 (unsigned 32 bits): kind-specific
# (an order digest, a value's bits, a target digest; a status, a date's ordinal, epoch seconds).
_RECORD = struct.Struct("<IBqHqI")
RECORD_SIZE = _RECORD.size
_DIGEST_OFFSET = 5
MAX_NAMES = 65_535


def sort_key(record: Record) -> tuple[int, int, int]:
    """Journal order: time, then kind (codes are numbered so that at one instant an enrolment
    comes first and a treatment starts before it completes), then the event digest. Records
    compare in this order as plain tuples too."""
    return record.at, record.code, record.digest


class Record(NamedTuple):
    at: int
    code: int
    digest: int
    ref: int
    aux: int = 0
    aux2: int = 0


@dataclass(frozen=True, slots=True, eq=False)
class Journal:
    """Sorted, de-duplicated records. Immutable: every change returns a new journal.

    Names are interned in arrival order, so two journals of the same events may number them
    differently; equality compares the records with their names resolved.
    """

    data: bytes = b""
    names: tuple[str, ...] = ()

    @classmethod
    def from_records(cls, records: list[Record], names: tuple[str, ...]) -> Journal:
        """A journal of records already sorted by `sort_key` and free of duplicates."""
        return cls(b"".join(starmap(_RECORD.pack, records)), names)

    def canonical(self) -> tuple[tuple[int, int, int, str, int, int], ...]:
        return tuple((r.at, r.code, r.digest, self.names[r.ref], r.aux, r.aux2) for r in self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Journal):
            return NotImplemented
        return (
            self.data == other.data
            if self.names == other.names
            else (self.canonical() == other.canonical())
        )

    def __hash__(self) -> int:
        return hash(self.canonical())

    def __len__(self) -> int:
        return len(self.data) // RECORD_SIZE

    def __iter__(self) -> Iterator[Record]:
        return map(Record._make, _RECORD.iter_unpack(self.data))

    def contains(self, digest: int) -> bool:
        """True if an event with this digest is already recorded (C-speed scan of the bytes)."""
        needle = digest.to_bytes(8, "little", signed=True)
        start = self.data.find(needle)
        while start != -1:
            if start % RECORD_SIZE == _DIGEST_OFFSET:
                return True
            start = self.data.find(needle, start + 1)
        return False

    def find(self, digest: int) -> Record | None:
        """The record of the event with this digest, if recorded."""
        needle = digest.to_bytes(8, "little", signed=True)
        start = self.data.find(needle)
        while start != -1:
            if start % RECORD_SIZE == _DIGEST_OFFSET:
                return Record._make(_RECORD.unpack_from(self.data, start - _DIGEST_OFFSET))
            start = self.data.find(needle, start + 1)
        return None

    def last_key(self) -> tuple[int, int, int] | None:
        if not self.data:
            return None
        at, code, digest, *_ = _RECORD.unpack_from(self.data, len(self.data) - RECORD_SIZE)
        return at, code, digest

    def intern(self, name: str) -> tuple[Journal, int]:
        """The index of `name` in this journal's name table, adding it if new."""
        try:
            return self, self.names.index(name)
        except ValueError:
            if len(self.names) >= MAX_NAMES:
                raise ValueError(f"more than {MAX_NAMES} distinct codes for one patient") from None
            return Journal(self.data, (*self.names, name)), len(self.names)

    def insert(self, record: Record) -> tuple[Journal, bool]:
        """Insert in `sort_key` order; returns the journal and whether it went at the end."""
        packed = _RECORD.pack(*record)
        last = self.last_key()
        key = sort_key(record)
        if last is None or key > last:
            return Journal(self.data + packed, self.names), True
        keys = [(at, code, digest) for at, code, digest, *_ in _RECORD.iter_unpack(self.data)]
        low, high = 0, len(keys)
        while low < high:
            mid = (low + high) // 2
            if keys[mid] < key:
                low = mid + 1
            else:
                high = mid
        cut = low * RECORD_SIZE
        return Journal(self.data[:cut] + packed + self.data[cut:], self.names), False
