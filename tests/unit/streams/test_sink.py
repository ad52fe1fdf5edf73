"""FaustSink: a tick's outputs go out without waiting, and `publish` waits for them all."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from streams.sink import FaustSink, Record
from streams.topics import TopicNames

NAMES = TopicNames()


class Producer:
    """Hands out one future per record; the test decides when the broker acknowledges."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.futures: list[asyncio.Future[object]] = []

    async def send(self, topic: str, key: bytes | None, value: bytes, *_: Any) -> Any:
        self.sent.append((topic, value))
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return future


def reminder(n: int) -> Record:
    return Record(NAMES.reminders, f"p{n}", f"r{n}".encode())


async def test_publish_waits_for_what_was_sent_before_it() -> None:
    producer = Producer()
    app = SimpleNamespace(producer=producer, in_transaction=False)
    sink = FaustSink(app, NAMES)  # type: ignore[arg-type]

    await sink.send([reminder(1), reminder(2)])  # returns at once: nothing acknowledged yet
    assert [value for _, value in producer.sent] == [b"r1", b"r2"]
    published = asyncio.ensure_future(sink.publish([reminder(3)]))
    await asyncio.sleep(0.01)
    producer.futures[2].set_result(None)
    producer.futures[1].set_result(None)
    await asyncio.sleep(0.01)
    assert not published.done()  # the first reminder sent is not acknowledged yet

    producer.futures[0].set_result(None)
    await asyncio.wait_for(published, 1)
    await asyncio.wait_for(sink.publish([]), 1)  # nothing left to wait for
