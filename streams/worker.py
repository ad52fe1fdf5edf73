"""Run the patient agent in this process: create topics, start the app, stop on a signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from streams.app import create_app
from streams.metrics import StreamsMetrics
from streams.settings import StreamsSettings
from streams.topics import TopicsChanged, create_topics, watch_topics

log = logging.getLogger(__name__)


async def serve(settings: StreamsSettings, catalog: Any, stop: asyncio.Event) -> None:
    """Run until `stop` is set. Topics are created before anything can produce to them."""
    await create_topics(settings)
    metrics = StreamsMetrics()
    app = create_app(settings, catalog, metrics=metrics)
    metrics.healthy = lambda: app.state == "running" and not app.should_stop
    server = None
    if settings.metrics_port is not None:
        server = metrics.serve(settings.metrics_port, settings.metrics_host)
    await app.start()
    log.info("patient agent started on %s", settings.kafka_bootstrap)
    _on_sigusr1(lambda: log.warning("state:\n%s\n%s", consumer_state(app), task_stacks()))
    lag = asyncio.create_task(_measure_lag(app, metrics, stop), name="lag")
    topics = asyncio.create_task(watch_topics(settings, stop), name="topics")
    try:
        await stop.wait()
    finally:
        lag.cancel()
        topics.cancel()
        await app.stop()
        if server is not None:
            server.shutdown()
            server.server_close()
        log.info("patient agent stopped")
    if topics.done() and not topics.cancelled() and topics.result():
        raise TopicsChanged(topics.result())


async def _measure_lag(app: Any, metrics: StreamsMetrics, stop: asyncio.Event) -> None:
    """Every few seconds: input records not yet committed, over this worker's partitions."""
    while not stop.is_set():
        await asyncio.sleep(5)
        try:
            consumer = app.consumer
            lag = 0
            for tp in consumer.assignment():
                committed = consumer._committed_offset.get(tp) or 0  # Faust keeps no public one
                lag += max(consumer.highwater(tp) - committed, 0)
            metrics.consumer_lag.set(lag)
        except Exception:  # a rebalance in progress: measure again next time
            log.debug("consumer lag not measured this round", exc_info=True)


def task_stacks() -> str:
    """Every asyncio task of this loop with the chain of awaits it is parked in."""
    lines = []
    for task in asyncio.all_tasks():
        lines.append(f"task {task.get_name()}:")
        awaiting: Any = task.get_coro()
        while awaiting is not None:
            frame = getattr(awaiting, "cr_frame", None) or getattr(awaiting, "ag_frame", None)
            if frame is not None:
                code = frame.f_code
                lines.append(f"  {code.co_filename}:{frame.f_lineno} in {code.co_name}")
            awaiting = getattr(awaiting, "cr_await", None) or getattr(awaiting, "ag_await", None)
    return "\n".join(lines)


def consumer_state(app: Any) -> str:
    """Per assigned partition: position, committed offset, paused or not (diagnostics)."""
    try:
        consumer = app.consumer
        kafka = consumer._thread._ensure_consumer()
        assignment = kafka._subscription.subscription.assignment
        active = consumer._active_partitions
        lines = [f"flow active {app.flow_control.is_active()}"]
        for tp in sorted(assignment.tps):
            state = assignment.state_value(tp)
            lines.append(
                f"  {tp.topic}[{tp.partition}] position {state.position} "
                f"highwater {state.highwater} paused {state.paused} "
                f"committed {consumer._committed_offset.get(tp)} "
                f"active {active is None or tp in active}"
            )
        return "\n".join(lines)
    except Exception as exc:  # diagnostics must never take the worker down
        return f"consumer state unavailable: {exc!r}"


def _on_sigusr1(report: Any) -> None:
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not main thread
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, report)


def run_worker(settings: StreamsSettings, catalog: Any) -> int:
    """The blocking entry point of `remission-watch worker`; SIGINT/SIGTERM stop it cleanly,
    SIGUSR1 logs the consumer's partitions and where every task waits (a worker that seems
    stuck)."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, catalog, stop)

    asyncio.run(main())
    return 0
