"""The patient agent's intake: records from Kafka to the agent's batches, in bulk.

Two steps of Faust's per-record path are replaced here. In the bench's no-op agent
(`bench/streams_bench.py`, Apache Kafka, 2026-11) Faust's path cost 72-110 us of CPU per
record, more than the patient agent's whole domain work per event (about 50 us), so no agent
batching on top of it could reach twice the bare agent's rate:

- `DirectDelivery` (below) hands each fetched record to the conductor without the four tasks
  Faust's fetch loop creates per record. This was most of the cost: with it, the no-op agent
  spent 11-46 us per record.
- `batches` takes the agent's records from its channel queue as many at a time as are there,
  instead of one `await` per record through `Stream.__aiter__` and `take_events`' buffering
  processor. Alone it did not lower the no-op's CPU measurably (88-110 us); it is what lets
  batches form in bulk once delivery is direct, and it acknowledges only handled records.

`batches` reads the agent's channel queue directly, as many records as are there, and keeps
the parts of Faust's stream that carry its guarantees:

- a record delivered before a rebalance (another consumer generation) or while the flow is
  suspended is skipped and acknowledged, as Faust's stream does (its partition may belong to
  another worker now; the committed offset there decides);
- a record is tracked (`Consumer.unacked`, the `on_message_in` sensors) when it is taken, so
  that a rebalance waits for it and nothing is committed past it;
- records are acknowledged only after the caller has finished the batch without raising
  (Faust's `take_events` acknowledges them even when the agent body raised), so the offsets
  committed never pass a record that was not handled.

Faust's private surface used here: `Channel.queue` (mode's `ThrowableQueue`),
`app.topics.acking_topics`, `app.consumer.unacked`, `app.consumer_generation_id`,
`app.flow_control`, `app.sensors`, `Event.ack`, and for `DirectDelivery` the consumer's fetch
loop state; written against faust-streaming 0.15.3, which pyproject.toml requires
(tests/unit/streams/test_intake.py and the broker tests run against the installed one).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import faust
from faust.transport.consumer import CONSUMER_FETCHING as _CONSUMER_FETCHING
from faust.types import EventT


async def batches(
    stream: faust.StreamT[Any], max_records: int, within: float
) -> AsyncIterator[list[EventT]]:
    """Yield lists of 1..`max_records` events from the agent's `stream`, in arrival order.

    A batch is yielded as soon as `max_records` are in hand, `within` seconds after its first
    record arrived, or once no record has come for `within / 10` seconds, whichever comes
    first; the wait for a first record is unbounded. The queue is looked at every
    `within / 10` seconds rather than woken per record: Faust delivers a fetch's records
    one by one, and an agent woken for each would work batches of a few records.
    The batch's records are acknowledged when the consumer of this generator asks for the
    next batch. If the consumer raises instead, it must close the generator (`aclosing`):
    the batch's records are then untracked, not acknowledged, so Faust's shutdown does not
    wait for them and commits no offset past them; they are read again. Exceptions thrown
    into the channel (`Channel.throw`) are raised here; `StopAsyncIteration` ends the
    generator, as it ends Faust's stream.
    """
    app = stream.app
    queue = stream.channel.queue
    consumer = app.consumer
    unacked = consumer.unacked
    acking_topics = app.topics.acking_topics
    sensors = app.sensors
    flow_control = app.flow_control
    loop = asyncio.get_running_loop()
    quiet = within / 10  # no record for this long: the batch closes early
    while True:
        taken: list[EventT] = []
        batch: list[EventT] = []
        deadline: float | None = None
        try:
            while len(batch) < max_records:
                if not queue.empty():
                    event = queue.get_nowait()
                elif deadline is None:
                    event = await queue.get()
                else:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    await asyncio.sleep(min(remaining, quiet))
                    if queue.empty():
                        break  # nothing came for `quiet` seconds: the source has paused
                    continue
                if deadline is None:
                    deadline = loop.time() + within
                taken.append(event)
                message = event.message
                if message.topic in acking_topics and not message.tracked:
                    message.tracked = True
                    unacked.add(message)
                    sensors.on_message_in(message.tp, message.offset, message)
                if flow_control.is_active() and message.generation_id == app.consumer_generation_id:
                    batch.append(event)
        except StopAsyncIteration:  # the channel has ended (as Faust's stream, it ends us)
            return
        if batch:
            try:
                yield batch
            except BaseException:  # the agent failed, or stopped, with this batch in hand
                unacked.difference_update(event.message for event in taken)
                raise
        for event in taken:  # the stale ones too, as Faust's stream acknowledges them
            if event.ack():
                message = event.message
                sensors.on_message_out(message.tp, message.offset, message)
        await asyncio.sleep(0)  # let the consumer and producer run between batches


class DirectDelivery:
    """A Faust consumer mixin: each fetched record goes to the conductor without four tasks.

    Faust's `Consumer._drain_messages` hands every record to the conductor inside
    `Service.wait_first(callback(message), suspend_flow.wait())`: four tasks and an
    `asyncio.wait` per record, so that a rebalance (`suspend_flow`) can abandon a delivery
    that waits. Measured in the bench's no-op agent, that wrapper was most of Faust's cost per
    record. Here the callback is awaited directly when it cannot wait for a rebalance: the flow
    is running, the conductor's index is not being rebuilt and the producer buffer is below
    its limit (the callback's only waits then are for a full stream buffer, done in tasks of
    its own that a rebalance cancels). Otherwise, and while a rebalance is under way, the
    record goes Faust's way. The loop is otherwise Faust's (faust-streaming 0.15.3,
    `faust/transport/consumer.py`): the read offsets, gap tracking, periodic commits and the
    yield to the event loop every 100 records.
    """

    async def _drain_messages(self, fetcher: Any) -> None:
        consumer: Any = self
        callback = consumer.callback
        getmany = consumer.getmany
        consumer_should_stop = consumer._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        get_read_offset = consumer._read_offset.__getitem__
        set_read_offset = consumer._read_offset.__setitem__
        set_flag, unset_flag = consumer.diag.set_flag, consumer.diag.unset_flag
        commit_every = consumer._commit_every
        app = consumer.app
        acks_enabled_for = app.topics.acks_enabled_for
        flow_is_active = app.flow_control.is_active
        suspended = consumer.suspend_flow.is_set
        indexing = app.topics._tp_to_callback_lock.locked
        buffer = app.producer.buffer
        limit = buffer.max_messages
        # ProducerBuffer.size reads the app's settings at every call; unthreaded (our apps),
        # it is the size of the queue of records pending
        buffered = (lambda: buffer.size) if app.conf.producer_threaded else buffer.pending.qsize

        async def deliver(message: Any) -> None:
            if flow_is_active() and not suspended() and not indexing() and buffered() <= limit:
                await callback(message)  # nothing in it can wait for a rebalance
            else:
                await consumer.wait_first(callback(message), consumer.suspend_flow.wait())

        num_since_yield = 0
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(_CONSUMER_FETCHING)
                ait = getmany(timeout=1.0)
                await consumer.sleep(0)
                if not consumer.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > 100:
                            await asyncio.sleep(0)
                            num_since_yield = 0
                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                                await consumer._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None and consumer._n_acked >= commit_every:
                                consumer._n_acked = 0
                                await consumer.commit()
                            await deliver(message)  # the one step that differs from Faust's
                            set_read_offset(tp, offset)
                    unset_flag(_CONSUMER_FETCHING)
        except consumer.consumer_stopped_errors:
            if consumer.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if consumer.transport.app.should_stop:
                return
            raise
        except Exception as exc:
            consumer.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(_CONSUMER_FETCHING)
