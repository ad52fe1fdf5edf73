"""streams.intake.batches: whole batches from the channel queue, with Faust's stream rules."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP
from mode.utils.queues import FlowControlEvent, ThrowableQueue

from models.protocols import Catalog
from streams.app import create_app
from streams.intake import DirectDelivery, batches
from streams.settings import StreamsSettings
from tests.unit.streams.conftest import PROTOCOL

TOPIC = "rw.labs.v1"


class Message:
    def __init__(self, offset: int, generation: int) -> None:
        self.topic = TOPIC
        self.tp = TP(TOPIC, 0)
        self.offset = offset
        self.generation_id = generation
        self.tracked = False


class Event:
    def __init__(self, message: Message, acks: list[int]) -> None:
        self.message = message
        self._acks = acks

    def ack(self) -> bool:
        self._acks.append(self.message.offset)
        return True


class Sensors:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        self.calls.append(("in", offset))

    def on_message_out(self, tp: TP, offset: int, message: Message) -> None:
        self.calls.append(("out", offset))


class Channel:
    """A stream's channel and app as far as `batches` reads them."""

    def __init__(self) -> None:
        self.flow = FlowControlEvent()
        self.flow.resume()
        self.queue: ThrowableQueue = ThrowableQueue(flow_control=self.flow)
        self.acks: list[int] = []
        self.sensors = Sensors()
        self.app = SimpleNamespace(
            consumer=SimpleNamespace(unacked=set()),
            topics=SimpleNamespace(acking_topics={TOPIC}),
            sensors=self.sensors,
            flow_control=self.flow,
            consumer_generation_id=1,
        )
        self.stream: Any = SimpleNamespace(app=self.app, channel=SimpleNamespace(queue=self.queue))
        self._offset = 0

    def put(self, n: int = 1, generation: int = 1) -> None:
        for _ in range(n):
            self.queue.put_nowait(Event(Message(self._offset, generation), self.acks))
            self._offset += 1


def offsets(batch: list[Any]) -> list[int]:
    return [e.message.offset for e in batch]


async def test_a_batch_is_what_is_queued_up_to_the_limit() -> None:
    channel = Channel()
    channel.put(7)
    reader = batches(channel.stream, max_records=5, within=0.01)
    assert offsets(await anext(reader)) == [0, 1, 2, 3, 4]
    assert offsets(await anext(reader)) == [5, 6]


async def test_records_are_tracked_when_taken_and_acknowledged_when_the_next_is_asked_for() -> None:
    channel = Channel()
    channel.put(3)
    reader = batches(channel.stream, max_records=10, within=0.01)
    first = await anext(reader)
    assert channel.acks == []
    assert {e.message for e in first} == channel.app.consumer.unacked
    assert all(e.message.tracked for e in first)
    channel.put(1)
    await anext(reader)
    assert channel.acks == [0, 1, 2]
    taken_then_acked = [("in", 0), ("in", 1), ("in", 2), ("out", 0), ("out", 1), ("out", 2)]
    assert channel.sensors.calls == [*taken_then_acked, ("in", 3)]


async def test_a_batch_whose_handler_raises_is_untracked_and_never_acknowledged() -> None:
    # Not acknowledged: no offset is committed past it. Untracked: Faust's shutdown waits for
    # every tracked record to be acknowledged, so a crashed worker would never stop.
    channel = Channel()
    channel.put(3)
    reader = batches(channel.stream, max_records=10, within=0.01)
    with pytest.raises(RuntimeError):
        async with contextlib.aclosing(reader):
            async for batch in reader:
                assert {e.message for e in batch} == channel.app.consumer.unacked
                raise RuntimeError("the agent crashed")
    assert channel.acks == []
    assert channel.app.consumer.unacked == set()


async def test_records_of_an_older_consumer_generation_are_skipped_and_acknowledged() -> None:
    # As Faust's stream: delivered before a rebalance, they may belong to another worker now.
    channel = Channel()
    channel.put(2, generation=0)
    channel.put(2, generation=1)
    reader = batches(channel.stream, max_records=10, within=0.01)
    assert offsets(await anext(reader)) == [2, 3]
    channel.put(1)
    await anext(reader)
    assert channel.acks == [0, 1, 2, 3]


async def test_records_taken_while_the_flow_is_suspended_are_skipped() -> None:
    channel = Channel()
    channel.put(2)
    channel.flow.suspend()
    reader = batches(channel.stream, max_records=10, within=0.01)
    pending = asyncio.ensure_future(anext(reader))
    await asyncio.sleep(0.05)
    assert not pending.done()  # nothing to hand over: both were skipped
    channel.flow.resume()
    channel.put(1)
    assert offsets(await pending) == [2]


async def test_the_wait_for_a_first_record_is_unbounded() -> None:
    channel = Channel()
    pending = asyncio.ensure_future(anext(batches(channel.stream, max_records=10, within=0.01)))
    await asyncio.sleep(0.1)  # ten windows
    assert not pending.done()
    channel.put(1)
    assert offsets(await pending) == [0]


async def test_records_that_keep_coming_join_the_batch_until_the_window_closes() -> None:
    # within 0.5 s: the queue is looked at every 0.05 s; a record comes every 2 ms for 2 s
    channel = Channel()

    async def feed() -> None:
        for _ in range(1000):
            channel.put(1)
            await asyncio.sleep(0.002)

    feeding = asyncio.ensure_future(feed())
    try:
        batch = await anext(batches(channel.stream, max_records=100_000, within=0.5))
    finally:
        feeding.cancel()
    assert 1 < len(batch) < 1000  # more than the first record, closed by the window
    assert offsets(batch) == list(range(len(batch)))


async def test_a_batch_closes_once_no_record_came_for_a_tenth_of_the_window() -> None:
    channel = Channel()
    channel.put(2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    batch = await anext(batches(channel.stream, max_records=10, within=3.0))
    assert offsets(batch) == [0, 1]
    assert loop.time() - started < 2.0  # about 0.3 s, not the 3 s window


async def test_an_error_thrown_into_the_channel_is_raised() -> None:
    channel = Channel()
    await channel.queue.throw(ValueError("from the conductor"))
    with pytest.raises(ValueError, match="from the conductor"):
        await anext(batches(channel.stream, max_records=10, within=0.01))


async def test_an_ended_channel_ends_the_batches() -> None:
    # Faust ends a channel by throwing StopAsyncIteration into it (agents' test contexts do)
    channel = Channel()
    await channel.queue.throw(StopAsyncIteration())
    assert [b async for b in batches(channel.stream, max_records=10, within=0.01)] == []


class Drain(DirectDelivery):
    """Faust's consumer as far as `DirectDelivery._drain_messages` reads it."""

    consumer_stopped_errors = (ConnectionError,)

    def __init__(self, fetched: list[tuple[TP, Any]]) -> None:
        self.delivered: list[int] = []
        self.waited_first: list[int] = []
        self._fetched = fetched
        self._stopped = asyncio.Event()
        self.should_stop = False
        self._read_offset: dict[TP, int | None] = defaultdict(lambda: None)
        self.diag = SimpleNamespace(set_flag=lambda flag: None, unset_flag=lambda flag: None)
        self._commit_every = None
        self._n_acked = 0
        self.suspend_flow = asyncio.Event()
        self.flow = FlowControlEvent()
        self.flow.resume()
        self.buffer = SimpleNamespace(size=0, max_messages=100)
        self.app = SimpleNamespace(
            topics=SimpleNamespace(
                acks_enabled_for=lambda topic: True, _tp_to_callback_lock=asyncio.Lock()
            ),
            flow_control=self.flow,
            producer=SimpleNamespace(buffer=self.buffer),
            conf=SimpleNamespace(producer_threaded=True),
        )
        self.transport = SimpleNamespace(app=SimpleNamespace(should_stop=True))
        self.log = SimpleNamespace(exception=lambda *args: None)

    async def callback(self, message: Any) -> None:
        self.delivered.append(message.offset)

    async def getmany(self, timeout: float) -> Any:
        fetched, self._fetched = self._fetched, []
        for tp, message in fetched:
            yield tp, message
        if not fetched:
            self._stopped.set()  # everything delivered: the fetcher stops

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait_first(self, *coros: Any) -> None:
        delivery, _suspended = coros
        _suspended.close()
        await delivery
        self.waited_first.append(self.delivered[-1])

    async def _add_gap(self, tp: TP, start: int, end: int) -> None:
        pass

    async def commit(self) -> None:
        pass

    async def drain(self) -> None:
        fetcher = SimpleNamespace(_stopped=asyncio.Event())
        await self._drain_messages(fetcher)


def fetched(*offsets: int) -> list[tuple[TP, Any]]:
    tp = TP(TOPIC, 0)
    return [(tp, SimpleNamespace(offset=o, topic=TOPIC)) for o in offsets]


async def test_a_running_flow_hands_each_record_to_the_conductor_directly() -> None:
    drain = Drain(fetched(0, 1, 2))
    await drain.drain()
    assert drain.delivered == [0, 1, 2]
    assert drain.waited_first == []
    assert drain._read_offset[TP(TOPIC, 0)] == 2


async def test_during_a_rebalance_records_go_faust_s_way() -> None:
    drain = Drain(fetched(0, 1))
    drain.suspend_flow.set()
    await drain.drain()
    assert drain.waited_first == [0, 1]


async def test_a_suspended_flow_or_a_full_producer_buffer_goes_faust_s_way() -> None:
    drain = Drain(fetched(0))
    drain.flow.suspend()
    await drain.drain()
    assert drain.waited_first == [0]
    drain = Drain(fetched(0))
    drain.buffer.size = 101  # the conductor would wait for the producer to ebb
    await drain.drain()
    assert drain.waited_first == [0]


async def test_records_before_the_read_offset_are_not_delivered_again() -> None:
    drain = Drain(fetched(5, 3, 6))
    await drain.drain()
    assert drain.delivered == [5, 6]


async def test_the_patient_app_delivers_records_directly(tmp_path: Path) -> None:
    settings = StreamsSettings(data_dir=tmp_path, app_id="delivery-test")
    app = create_app(settings, Catalog.from_texts({"test-breast.yaml": PROTOCOL}))
    assert issubclass(app.transport.Consumer, DirectDelivery)
