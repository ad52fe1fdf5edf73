"""Run the patient agent in this process: create topics, start the app, stop on a signal."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from streams.app import create_app
from streams.metrics import StreamsMetrics
from streams.settings import StreamsSettings
from streams.topics import create_topics

log = logging.getLogger(__name__)


async def serve(settings: StreamsSettings, catalog: Any, stop: asyncio.Event) -> None:
    """Run until `stop` is set. Topics are created before anything can produce to them."""
    await create_topics(settings)
    metrics = StreamsMetrics()
    if settings.metrics_port is not None:
        metrics.serve(settings.metrics_port, settings.metrics_host)
    app = create_app(settings, catalog, metrics=metrics)
    await app.start()
    log.info("patient agent started on %s", settings.kafka_bootstrap)
    try:
        await stop.wait()
    finally:
        await app.stop()
        log.info("patient agent stopped")


def run_worker(settings: StreamsSettings, catalog: Any) -> int:
    """The blocking entry point of `remission-watch worker`; SIGINT/SIGTERM stop it cleanly."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, catalog, stop)

    asyncio.run(main())
    return 0
