"""Which patients of a partition wake up when: time buckets kept in a table, keyed by partition.

A Faust table write lands in the changelog partition of the event being processed, and one
worker's table holds the keys of all its partitions; every key here therefore starts with the
partition so that two partitions never overwrite each other's entries.

Keys: `{p}:clock` holds the partition's latest tick and its scan cursor (a bucket number);
`{p}:due:{bucket}` maps patient id -> wake-up instant for the patients waking in that bucket.
Entries never sit in a bucket behind the cursor: the past is filed in the cursor's bucket.
The clock is written last on a tick, so a redelivered tick finds its work either undone
(and redoes it; settle repeats nothing) or done.

Buffered (the patient agent's batches), writes are held as decoded values and handed out
once per key by `drain()`: buckets and clocks apart, for the clocks go last.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Due:
    patient_id: str
    wake_at: datetime
    bucket: int


class Readable(Protocol):
    def get(self, key: str) -> bytes | None: ...


Changes = list[tuple[str, bytes | None]]

WALK_LIMIT = 256  # buckets: beyond this span a tick reads the bucket keys instead


class DueIndex:
    """Time buckets of wake-up instants over a str -> bytes table.

    Unbuffered, `table` is a mutable mapping written at once; buffered, it is only read, and
    `drain()` returns the writes.
    """

    def __init__(
        self,
        table: Readable | MutableMapping[str, bytes],
        bucket_seconds: int,
        *,
        buffered: bool = False,
    ) -> None:
        self.table = table
        self.bucket_seconds = bucket_seconds
        self.buffered = buffered
        self._pending: dict[str, dict[str, Any] | None] = {}  # buffered writes, decoded
        self._read: dict[str, tuple[bytes, dict[str, Any]]] = {}  # last decoding of a value

    def bucket(self, instant: datetime) -> int:
        return int(instant.timestamp()) // self.bucket_seconds

    def now(self, partition: int) -> datetime | None:
        """The latest tick this partition has seen, if any."""
        now = self._clock(partition).get("now")
        return datetime.fromisoformat(str(now)) if now else None

    def is_new_tick(self, partition: int, now: datetime) -> bool:
        """False for a tick not later than the last one recorded (redelivered or reordered)."""
        last = self.now(partition)
        return last is None or now > last

    def due(self, partition: int, now: datetime) -> list[Due]:
        """Entries of `partition` whose wake-up instant is at or before `now`, oldest first.

        Reads the buckets from the cursor to `now`'s: the cost grows with the time passed and
        the patients waking in it, not with the patients in the table. Empty for a tick that
        is not later than the last one recorded (redelivered or out of order).

        An entry may be stale (the patient moved on, see `move`): the caller compares it with
        the wake-up instant stored with the patient, and drops it with `refile(..., None)`.
        """
        if not self.is_new_tick(partition, now):
            return []
        target = self.bucket(now)
        cursor = self._cursor(partition)
        start = target if cursor is None else min(cursor, target)
        found = [
            Due(patient_id, datetime.fromisoformat(wake), bucket)
            for bucket in self._buckets(partition, start, target)
            for patient_id, wake in self._entries(partition, bucket).items()
        ]
        return sorted(
            (d for d in found if d.wake_at <= now), key=lambda d: (d.wake_at, d.patient_id)
        )

    def _buckets(self, partition: int, start: int, end: int) -> Iterable[int]:
        """The bucket numbers from `start` to `end` that may hold entries: walked when the
        span is short, else read from the partition's keys (a tick after a long pause, or a
        wrong one, costs the buckets that exist, never the hours in between)."""
        keys = getattr(self.table, "keys", None)
        if end - start < WALK_LIMIT or keys is None:
            return range(start, end + 1)
        prefix = f"{partition}:due:"
        filed = {int(key[len(prefix) :]) for key in keys() if key.startswith(prefix)}
        filed.update(
            int(key[len(prefix) :])
            for key, value in self._pending.items()
            if value and key.startswith(prefix)
        )
        return sorted(bucket for bucket in filed if start <= bucket <= end)

    def record_tick(self, partition: int, now: datetime) -> None:
        """Advance the partition's clock once the tick's patients are re-filed."""
        self._set_clock(partition, now.isoformat(), self.bucket(now))

    def move(
        self, partition: int, patient_id: str, old: datetime | None, new: datetime | None
    ) -> None:
        """File a patient whose wake-up instant changed from `old` to `new` after an event.

        The entry under `old` is left behind, stale: removing it would cost a second write
        for every move, and a tick that meets it drops it (the patient's own record says when
        it wakes; see `due`). Only when both fall in one bucket is the entry replaced.
        """
        if old == new or new is None:
            return
        self.refile(partition, patient_id, None, new)

    def ensure(self, partition: int, patient_id: str, wake_at: datetime | None) -> None:
        """File the patient under `wake_at` if its entry is missing (a write lost to a crash)."""
        if wake_at is None:
            return
        target = self._filed_bucket(partition, wake_at)
        entries = self._writable(partition, target)
        if entries.get(patient_id) != wake_at.isoformat():
            entries[patient_id] = wake_at.isoformat()
            self._put(partition, target, entries)

    def refile(
        self,
        partition: int,
        patient_id: str,
        source: int | None,
        wake_at: datetime | None,
        floor: int | None = None,
    ) -> None:
        """Move a patient from bucket `source` to the bucket of `wake_at` (None: unfile).

        `floor` is the lowest bucket that will be scanned again (the tick's own bucket while
        a tick is being processed); it defaults to the cursor.
        """
        target = None
        if wake_at is not None:
            target = self._filed_bucket(partition, wake_at, floor)
            entries = self._writable(partition, target)
            entries[patient_id] = wake_at.isoformat()
            self._put(partition, target, entries)
        if source is not None and source != target:
            entries = self._writable(partition, source)
            if entries.pop(patient_id, None) is not None:
                self._put(partition, source, entries)

    def drain(self) -> tuple[Changes, Changes]:
        """The buffered writes since the last drain, encoded: (buckets, clocks)."""
        buckets: Changes = []
        clocks: Changes = []
        for key, value in self._pending.items():
            encoded = None if value is None else _encode(value)
            if encoded is not None:
                self._read[key] = (encoded, value)
            else:
                self._read.pop(key, None)
            (clocks if key.endswith(":clock") else buckets).append((key, encoded))
        self._pending = {}
        return buckets, clocks

    def _filed_bucket(self, partition: int, wake_at: datetime, floor: int | None = None) -> int:
        bucket = self.bucket(wake_at)
        if floor is not None:
            return max(bucket, floor)
        clock = self._clock(partition)
        cursor = clock.get("cursor")
        if clock.get("now") is None:
            # Before the first tick the cursor follows the earliest bucket in use.
            if cursor is None or bucket < int(str(cursor)):
                self._set_clock(partition, None, bucket)
            return bucket
        return max(bucket, int(str(cursor)))

    def _entries(self, partition: int, bucket: int) -> dict[str, str]:
        """The bucket's entries; the caller may change the dict it gets and `_put` it back."""
        return dict(self._get(f"{partition}:due:{bucket}"))

    def _writable(self, partition: int, bucket: int) -> dict[str, str]:
        """The bucket's entries to change and `_put` back. Buffered, the same dict for the
        rest of the batch (copied once): a tick that re-files thousands of patients out of
        one bucket must not copy that bucket per patient."""
        key = f"{partition}:due:{bucket}"
        if self.buffered:
            entries = self._pending.get(key)
            if entries is None:
                entries = dict(self._get(key))
                self._pending[key] = entries
            return entries  # type: ignore[return-value]
        return dict(self._get(key))

    def _put(self, partition: int, bucket: int, entries: dict[str, str]) -> None:
        self._set(f"{partition}:due:{bucket}", entries or None)

    def _clock(self, partition: int) -> dict[str, Any]:
        return self._get(f"{partition}:clock")

    def _cursor(self, partition: int) -> int | None:
        cursor = self._clock(partition).get("cursor")
        return None if cursor is None else int(str(cursor))

    def _set_clock(self, partition: int, now: str | None, cursor: int) -> None:
        clock = self._clock(partition)
        value = {"now": now if now is not None else clock.get("now"), "cursor": cursor}
        self._set(f"{partition}:clock", value)

    def _get(self, key: str) -> dict[str, Any]:
        """The decoded value of `key` (read-only for the caller), {} if there is none."""
        if key in self._pending:
            return self._pending[key] or {}
        raw = self.table.get(key)
        if not raw:
            return {}
        seen = self._read.get(key)
        if seen is not None and seen[0] is raw:
            return seen[1]
        value: dict[str, Any] = dict(json.loads(raw))
        self._read[key] = (raw, value)
        return value

    def _set(self, key: str, value: dict[str, Any] | None) -> None:
        if self.buffered:
            self._pending[key] = value
            return
        table: MutableMapping[str, bytes] = self.table  # type: ignore[assignment]
        if value is None:
            table.pop(key, None)
            self._read.pop(key, None)
        else:
            encoded = _encode(value)
            table[key] = encoded
            self._read[key] = (encoded, value)


def _encode(value: dict[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True).encode()
