"""The due index over a plain dict: partition-keyed buckets, a cursor, redelivered ticks."""

from __future__ import annotations

from collections import UserDict
from datetime import UTC, datetime, timedelta

from streams.due_index import DueIndex

T = datetime(2025, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


class CountingTable(UserDict[str, bytes]):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, key: str, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
        self.reads += 1
        return super().get(key, default)


def test_due_returns_only_what_has_come_due_oldest_first() -> None:
    index = DueIndex({}, 3600)
    index.move(0, "late", None, T + 30 * HOUR)
    index.move(0, "b", None, T + 2 * HOUR)
    index.move(0, "a", None, T + HOUR)
    assert [d.patient_id for d in index.due(0, T + 3 * HOUR)] == ["a", "b"]


def test_partitions_never_share_keys() -> None:
    table: dict[str, bytes] = {}
    index = DueIndex(table, 3600)
    index.move(0, "p0", None, T)
    index.move(1, "p1", None, T)
    assert {key.split(":")[0] for key in table} == {"0", "1"}
    assert [d.patient_id for d in index.due(1, T + HOUR)] == ["p1"]


def test_a_tick_not_later_than_the_last_finds_nothing() -> None:
    index = DueIndex({}, 3600)
    index.move(0, "a", None, T + 150 * timedelta(minutes=1))
    index.record_tick(0, T + 2 * HOUR)
    assert index.due(0, T + 2 * HOUR) == []
    assert index.due(0, T) == []
    assert [d.patient_id for d in index.due(0, T + 3 * HOUR)] == ["a"]


def test_refiling_moves_a_patient_out_of_its_old_bucket() -> None:
    index = DueIndex({}, 3600)
    index.move(0, "a", None, T)
    [due] = index.due(0, T + HOUR)
    index.refile(0, "a", due.bucket, T + 48 * HOUR, floor=index.bucket(T + HOUR))
    index.record_tick(0, T + HOUR)
    assert index.due(0, T + 2 * HOUR) == []
    assert [d.patient_id for d in index.due(0, T + 49 * HOUR)] == ["a"]


def test_an_event_moves_a_patient_filed_before_the_first_tick() -> None:
    index = DueIndex({}, 3600)
    index.move(0, "a", None, T + 10 * HOUR)
    index.move(0, "b", None, T + 5 * HOUR)
    index.record_tick(0, T + 3 * HOUR)
    index.move(0, "b", T + 5 * HOUR, T + 4 * HOUR)
    # The entry under the old instant stays, stale, for the tick's caller to drop
    due = [(d.patient_id, d.wake_at) for d in index.due(0, T + 6 * HOUR)]
    assert due == [("b", T + 4 * HOUR), ("b", T + 5 * HOUR)]


def test_a_move_writes_one_bucket_and_a_stale_entry_is_dropped_by_refile() -> None:
    table: dict[str, bytes] = {}
    index = DueIndex(table, 3600)
    index.move(0, "a", None, T + 10 * HOUR)
    index.record_tick(0, T)
    before = dict(table)
    index.move(0, "a", T + 10 * HOUR, T + 20 * HOUR)
    assert [k for k in table if table[k] != before.get(k)] == [
        f"0:due:{index.bucket(T + 20 * HOUR)}"
    ]

    stale, current = index.due(0, T + 21 * HOUR)
    index.refile(0, "a", stale.bucket, None)
    assert [d.wake_at for d in index.due(0, T + 21 * HOUR)] == [current.wake_at]


def test_a_tick_reads_the_buckets_passed_not_the_patients_waiting() -> None:
    table = CountingTable()
    index = DueIndex(table, 3600)
    for n in range(1000):
        index.move(0, f"later-{n}", None, T + timedelta(days=30 + n % 300))
    index.move(0, "soon", None, T + HOUR)
    index.record_tick(0, T)
    table.reads = 0
    assert [d.patient_id for d in index.due(0, T + 2 * HOUR)] == ["soon"]
    assert table.reads <= 5


def test_a_tick_decades_ahead_reads_the_buckets_that_exist_not_the_hours_between() -> None:
    table = CountingTable()
    index = DueIndex(table, 3600)
    index.move(0, "soon", None, T + HOUR)
    index.move(0, "years", None, T + 24 * 365 * 5 * HOUR)
    index.move(1, "other", None, T + 2 * HOUR)
    index.record_tick(0, T)
    table.reads = 0

    due = index.due(0, T + 24 * 365 * 70 * HOUR)  # 613,200 hourly buckets later

    assert [d.patient_id for d in due] == ["soon", "years"]
    assert table.reads < 10  # the two buckets and the clock, not 613,200 lookups
