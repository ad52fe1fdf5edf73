"""Run the patient agent in this process: create topics, start the app, stop on a signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from streams.app import create_app
from streams.exactly_once import require_transactions
from streams.health import WorkerHealth
from streams.metrics import StreamsMetrics
from streams.settings import StreamsSettings
from streams.topics import TopicsChanged, create_topics, watch_topics

log = logging.getLogger(__name__)


class AgentCrashed(RuntimeError):
    """The patient agent crashed; the worker stopped so that it is restarted."""


async def serve(settings: StreamsSettings, catalog: Any, stop: asyncio.Event) -> None:
    """Run until `stop` is set. Topics are created before anything can produce to them.

    Raises `AgentCrashed` if the patient agent crashes: running on would let Faust restart the
    agent past records it never handled.
    """
    if settings.processing_guarantee == "exactly_once":
        await require_transactions(settings)  # a clear refusal, not a crash in Faust
    await create_topics(settings)
    metrics = StreamsMetrics()
    app = create_app(settings, catalog, metrics=metrics)
    health = WorkerHealth()
    processor, crashed = app.streams_processor, app.streams_crashed  # type: ignore[attr-defined]

    def healthy() -> bool:
        health.running = app.state == "running" and not app.should_stop
        health.crashed = crashed.is_set()
        problems = health.problems()
        if problems:
            log.warning("unhealthy: %s", "; ".join(problems))
        return not problems

    metrics.healthy = healthy
    server = None
    if settings.metrics_port is not None:
        server = metrics.serve(settings.metrics_port, settings.metrics_host)
    await app.start()
    log.info("patient agent started on %s", settings.kafka_bootstrap)
    _on_sigusr1(lambda: log.warning("state:\n%s\n%s", consumer_state(app), task_stacks()))
    topics = asyncio.create_task(watch_topics(settings, stop), name="topics")
    tasks = [
        asyncio.create_task(_measure_lag(app, metrics, health, processor, stop), name="lag"),
        asyncio.create_task(_heartbeat(health, stop), name="heartbeat"),
    ]
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(crashed.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (*tasks, *waiters, topics):
            task.cancel()
        await app.stop()
        if server is not None:
            server.shutdown()
            server.server_close()
        log.info("patient agent stopped")
    if crashed.is_set():
        raise AgentCrashed(f"the patient agent crashed: {processor.crash!r}")
    if topics.done() and not topics.cancelled() and topics.result():
        raise TopicsChanged(topics.result())


async def _heartbeat(health: WorkerHealth, stop: asyncio.Event) -> None:
    """Proves to /healthz (another thread) that the event loop turns."""
    while not stop.is_set():
        health.heartbeat()
        await asyncio.sleep(1)


async def _measure_lag(
    app: Any, metrics: StreamsMetrics, health: WorkerHealth, processor: Any, stop: asyncio.Event
) -> None:
    """Every few seconds: input records not yet committed, over this worker's input
    partitions (not the tables' changelogs, which the consumer also reads while recovering)."""
    while not stop.is_set():
        await asyncio.sleep(5)
        try:
            lag = input_lag(app.consumer)
        except Exception:  # a rebalance in progress: measure again next time
            log.debug("consumer lag not measured this round", exc_info=True)
            continue
        metrics.consumer_lag.set(lag)
        health.observe_lag(lag, processor.batches)


def input_lag(consumer: Any) -> int:
    """High watermark minus committed offset, summed over the assigned input partitions."""
    lag = 0
    for tp in consumer.assignment():
        if tp.topic.endswith("-changelog"):
            continue
        committed = consumer._committed_offset.get(tp) or 0  # Faust keeps no public one
        lag += max((consumer.highwater(tp) or 0) - committed, 0)
    return lag


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

    try:
        asyncio.run(main())
    except AgentCrashed as exc:
        log.critical("%s; exiting with status 1 so that the worker is restarted", exc)
        return 1
    return 0
