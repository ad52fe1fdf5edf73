"""Subcommands of `remission-watch` for the streams service: worker, ticker, rebuild, publish."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streams.settings import StreamsSettings


def register(sub: Any) -> None:
    """Add the streams subcommands to the root parser's subparsers."""
    worker = sub.add_parser("worker", help="run the patient agent (Faust worker)")
    _common(worker)
    worker.add_argument("--embedded", action="store_true", help="start an embedded broker too")
    worker.add_argument(
        "--protocols", type=Path, help="load protocol files (*.yaml) from this folder instead"
    )
    worker.set_defaults(handler=run_worker_command)

    ticker = sub.add_parser("ticker", help="publish wall-clock ticks to every ticks partition")
    _common(ticker)
    ticker.add_argument("--interval", type=float, help="seconds between ticks (RW_TICK_INTERVAL)")
    ticker.add_argument(
        "--at",
        type=_instant,
        help='publish one tick at this instant, with its time zone (e.g. "$(date -u '
        '+%%FT%%TZ)"); a worker believes only ticks within RW_TICK_SKEW_SECONDS of now, '
        "unless RW_SIMULATED_TIME=true is set for both worker and ticker",
    )
    ticker.set_defaults(handler=run_ticker_command)

    rebuild = sub.add_parser(
        "rebuild",
        help="recompute state from the topics and compare with the live table",
        description="Folds every patient's events from the source topics and compares the "
        "result with the live state as facts. Prints per patient what differs. Exit 0: same, "
        "1: differences, 2: could not run.",
    )
    _common(rebuild)
    rebuild.add_argument("--live-from", choices=("changelog", "snapshots"), default="changelog")
    rebuild.add_argument("--json", action="store_true", help="print the report as JSON")
    rebuild.set_defaults(handler=run_rebuild_command)
    _register_publish(sub)


def _instant(text: str) -> datetime:
    """An argparse type: an ISO date-time with a time zone, else a one-line usage error (exit 2);
    a tick at a zone-less instant would be a guess."""
    example = "e.g. 2026-01-01T09:00:00+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date-time ({example})") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a time zone ({example})")
    return moment


def _register_publish(sub: Any) -> None:
    publish = sub.add_parser(
        "publish",
        help="validate a JSON Lines file of events and send each to its topic",
        description="Validates each line with the event models and sends the valid ones to "
        "their topics, keyed by patient_id, in file order. Bad lines are listed (line number "
        "and reason) and not sent. Exit 0: all sent, 1: bad lines, 2: could not run.",
    )
    _common(publish)
    publish.add_argument("file", type=Path, help="events, one JSON object per line")
    publish.add_argument("--dry-run", action="store_true", help="validate only; send nothing")
    publish.add_argument("--json", action="store_true", help="print the report as JSON")
    publish.set_defaults(handler=run_publish_command)


def run_publish_command(args: argparse.Namespace) -> int:
    """Exit 0 when every line was sent, 1 when some lines were bad, 2 if it could not run."""
    import logging

    from remission_watch.event_file import UnusableFile
    from streams.publish import as_json, publish, render
    from streams.topics import TopicsChanged

    # One line says it all: aiokafka's own lines reach no output, only the CLI's handler that
    # keeps the last one for that line (a refused password is only in them).
    logging.getLogger("aiokafka").propagate = False
    settings = settings_from(args)

    def progress(sent: int, done: int, lines: int) -> None:
        share = f" ({100 * done // lines}% of the file)" if lines else ""
        print(f"published {sent} events{share}", file=sys.stderr, flush=True)

    try:
        report = asyncio.run(publish(args.file, settings, dry_run=args.dry_run, progress=progress))
    except TopicsChanged as exc:
        print(f"remission-watch publish: {exc}", file=sys.stderr)
        return 2
    except UnusableFile as exc:  # read as `timeline` reads it, before any broker is asked
        print(f"remission-watch publish: {exc}", file=sys.stderr)
        return exc.code
    print(as_json(report) if args.json else render(report, args.file, args.dry_run))
    return 1 if report.bad else 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (RW_KAFKA_BOOTSTRAP)")


def settings_from(args: argparse.Namespace) -> StreamsSettings:
    overrides = {"kafka_bootstrap": args.bootstrap} if args.bootstrap else {}
    return StreamsSettings(**overrides)


def _logging(settings: StreamsSettings) -> None:
    from remission_watch.logs import configure_logging

    configure_logging(settings.loglevel)


def load_catalog(folder: Path | None) -> Any:
    """The built-in protocol catalog, or the protocol files of `folder`."""
    if folder is None:
        from remission_watch.protocol_files import load_builtin_catalog

        return load_builtin_catalog()
    from remission_watch.protocol_files import load_folder

    return load_folder(folder)


def run_worker_command(args: argparse.Namespace) -> int:
    from streams.embedded import EmbeddedBroker
    from streams.exactly_once import TransactionsUnsupported
    from streams.topics import TopicsChanged
    from streams.worker import run_worker

    settings = settings_from(args)
    _logging(settings)
    catalog = load_catalog(args.protocols)
    try:
        if not args.embedded:
            return run_worker(settings, catalog)
        with EmbeddedBroker() as broker:
            print(f"embedded broker on {broker.bootstrap} (memory only: keeps nothing)", flush=True)
            embedded = {"kafka_bootstrap": broker.bootstrap, "fetch_max_wait_ms": 20}
            return run_worker(settings.model_copy(update=embedded), catalog)
    except TopicsChanged as exc:
        print(f"worker stopped: {exc}", file=sys.stderr)
        return 2
    except TransactionsUnsupported as exc:
        print(f"worker not started: {exc}", file=sys.stderr)
        return 2


def run_ticker_command(args: argparse.Namespace) -> int:
    from streams.ticker import TickPublisher, run_wall_clock
    from streams.topics import create_topics

    settings = settings_from(args)
    if args.at is not None:
        check_tick(args.at, settings, datetime.now(UTC))
    _logging(settings)

    async def main() -> None:
        from streams.metrics import StreamsMetrics

        await create_topics(settings)
        metrics = StreamsMetrics()
        if settings.metrics_port is not None and args.at is None:
            metrics.serve(settings.metrics_port, settings.metrics_host)
        async with TickPublisher.from_settings(settings, metrics) as publisher:
            if args.at is not None:
                await publisher.publish(args.at)
                return
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await run_wall_clock(publisher, args.interval or settings.tick_interval, stop)

    asyncio.run(main())
    return 0


def check_tick(at: datetime, settings: StreamsSettings, now: datetime) -> None:
    """Refuse (`CannotRun`) a tick the worker would dead-letter (`TickRule`, docs/streams.md
    "Time"): one outside 1970-2099, or, in wall-clock mode, one too far from now. Published,
    it would print nothing and move no clock."""
    from remission_watch.problems import CannotRun

    if not 1970 <= at.astimezone(UTC).year <= 2099:
        raise CannotRun(f"--at {at.isoformat()}: a tick must lie within 1970-01-01 to 2099-12-31")
    skew = settings.tick_skew_seconds
    if settings.simulated_time or abs((at - now).total_seconds()) <= skew:
        return
    raise CannotRun(
        f"--at {at.isoformat()} is more than {skew:g} s from now ({now:%Y-%m-%dT%H:%M:%SZ}): a "
        "worker in wall-clock mode (the default) dead-letters such a tick; to publish "
        "simulated time, set RW_SIMULATED_TIME=true for both the worker and the ticker"
    )


def run_rebuild_command(args: argparse.Namespace) -> int:
    """Exit 0 when every state equals its rebuild, 1 on a difference, 2 if it cannot run."""
    import logging

    from streams.rebuild import CannotRebuild, rebuild, render_report

    # aiokafka logs every failed connection attempt; one line (from the CLI) says what to do.
    # Not propagated, so printed nowhere; the CLI's handler keeps the last for that line.
    logging.getLogger("aiokafka").propagate = False
    settings = settings_from(args)
    try:
        report = asyncio.run(rebuild(settings, live_from=args.live_from))
    except CannotRebuild as exc:
        print(f"remission-watch rebuild: {exc}", file=sys.stderr)
        return 2
    if args.json:
        found = {pid: [d._asdict() for d in ds] for pid, ds in report.differences.items()}
        print(json.dumps({**asdict(report), "differences": found, "ok": report.ok}, indent=2))
    else:
        print(render_report(report, args.live_from))
    return 0 if report.ok else 1
