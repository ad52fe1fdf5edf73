"""The consumer fixes behind the restart test: no fetch for "every partition", no skipped seek."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP

from streams.app import _FetchWaitConsumerThread

SOURCE = TP("rw.events", 0)
CHANGELOG = TP("rw-patients-changelog", 0)


def _thread() -> Any:
    thread = object.__new__(_FetchWaitConsumerThread)  # no consumer started: only the methods
    thread.consumer = SimpleNamespace(_is_changelog_tp=lambda tp: tp.topic.endswith("changelog"))
    return thread


async def test_a_fetch_keeps_the_partitions_it_was_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Faust passes its live set of active partitions; recovery empties it (pausing the
    # changelogs) while a fetch waits, and aiokafka reads an empty set as "every partition".
    live = {CHANGELOG}
    seen: list[set[TP]] = []

    async def fetch(self: Any, active_partitions: set[TP], timeout: float) -> dict[TP, list[Any]]:
        live.clear()
        seen.append(active_partitions)
        return {}

    monkeypatch.setattr(AIOKafkaConsumerThread, "getmany", fetch)
    await _thread().getmany(live, timeout=1.0)
    assert seen == [{CHANGELOG}]


async def test_a_partition_never_committed_is_sought_to_its_beginning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    never = TP("rw.events", 1)
    committed = {SOURCE: 42, never: None, TP("rw.ticks", 0): 0, CHANGELOG: None}
    sought: list[tuple[TP, ...]] = []

    async def seek_to_committed(self: Any) -> dict[TP, int | None]:
        return committed

    async def seek_to_beginning(self: Any, *partitions: TP) -> None:
        sought.append(partitions)

    monkeypatch.setattr(AIOKafkaConsumerThread, "seek_to_committed", seek_to_committed)
    monkeypatch.setattr(AIOKafkaConsumerThread, "seek_to_beginning", seek_to_beginning)
    assert await _thread().seek_to_committed() == committed
    # the changelog is recovery's business; 42 is aiokafka's own seek
    assert sought == [(never, TP("rw.ticks", 0))]
