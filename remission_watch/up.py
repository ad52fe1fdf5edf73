"""`remission-watch up`: broker (embedded unless one is configured), worker, ticker, notifier."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from notifier.service import NotifierService, StartRefused
from notifier.settings import NotifierSettings
from remission_watch.listen import check_can_listen
from remission_watch.protocol_files import load_builtin_catalog
from streams.embedded import EmbeddedBroker
from streams.settings import StreamsSettings
from streams.ticker import TickPublisher, run_wall_clock
from streams.topics import create_topics
from streams.worker import serve

log = logging.getLogger(__name__)


class DevSecretsRefused(StartRefused):
    """`up` was asked for the public dev secrets while something is not embedded."""


async def run_up(stop: asyncio.Event, environ: Mapping[str, str]) -> None:
    """Every service in this process until `stop` is set, on the wall clock."""
    with contextlib.ExitStack() as stack:
        overrides: dict[str, object] = {}
        if "RW_KAFKA_BOOTSTRAP" not in environ:
            broker = stack.enter_context(EmbeddedBroker())
            overrides["kafka_bootstrap"] = broker.bootstrap
            log.warning(
                "embedded Kafka-protocol broker on %s keeps nothing: it holds every event, "
                "state and reminder in memory only, and all of it is gone when `up` stops. "
                "Set RW_KAFKA_BOOTSTRAP to a Kafka cluster to keep them.",
                broker.bootstrap,
            )
        # The public dev secrets only when everything is embedded (broker and SQLite file);
        # against an external broker or database they are refused (issue 11).
        embedded = "kafka_bootstrap" in overrides and environ.get(
            "RW_DATABASE_URL", "sqlite"
        ).startswith("sqlite")
        dev_asked = environ.get("RW_ALLOW_DEV_KEY", "").strip().lower() in {"1", "true", "yes"}
        if dev_asked and not embedded:
            raise DevSecretsRefused(
                "RW_ALLOW_DEV_KEY=1 is refused with an external broker or database: set "
                "RW_ENCRYPTION_KEYS, RW_INBOUND_SECRET and RW_ADMIN_TOKEN"
            )
        if embedded and "RW_ALLOW_DEV_KEY" not in environ and "RW_ENCRYPTION_KEYS" not in environ:
            overrides["allow_dev_key"] = True
            log.warning(
                "everything embedded and no RW_ENCRYPTION_KEYS: using the public development "
                "key, inbound secret and admin token (never in production)"
            )
        streams_overrides = {k: v for k, v in overrides.items() if k != "allow_dev_key"}
        if "kafka_bootstrap" in overrides:  # embedded: see the two settings' descriptions
            streams_overrides["fetch_max_wait_ms"] = 20
            streams_overrides["confirm_changelog_ends"] = True
            overrides["kafka_fetch_max_wait_ms"] = 20
        streams = StreamsSettings(**streams_overrides)  # type: ignore[arg-type]
        notifier = NotifierSettings.read(running=True, **overrides)  # with the care team
        check_can_listen(notifier.http_host, notifier.http_port, "RW_HTTP_HOST, RW_HTTP_PORT")
        await create_topics(streams)
        service = NotifierService(notifier)
        service.check_care_team()  # before anything starts: never run silently without one
        async with TickPublisher.from_settings(streams) as ticks:
            tasks = [
                asyncio.create_task(serve(streams, load_builtin_catalog(), stop), name="worker"),
                asyncio.create_task(service.run(stop), name="notifier"),
                asyncio.create_task(
                    run_wall_clock(ticks, streams.tick_interval, stop), name="ticker"
                ),
            ]
            log.info(
                "up: worker, ticker and notifier running (http %s:%d); Ctrl-C stops",
                notifier.http_host,
                notifier.http_port,
            )
            await asyncio.wait(
                [*tasks, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED
            )
            stop.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for task, result in zip(tasks, results, strict=True):
                if isinstance(result, BaseException) and not isinstance(
                    result, asyncio.CancelledError
                ):
                    log.error("%s stopped with %r", task.get_name(), result)
