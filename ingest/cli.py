"""`remission-watch ingest ...`: the MLLP listener, file backfills and the quarantine."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.hl7_wire import not_hl7
from remission_watch.listen import check_can_listen, listen_address, port_number


def register(sub: Any) -> None:
    ingest = sub.add_parser("ingest", help="HL7 v2 (MLLP, files) and FHIR R4 into events")
    commands = ingest.add_subparsers(dest="ingest_command", metavar="INGEST_COMMAND")

    mllp = commands.add_parser("mllp", help="run the MLLP listener (ACK after Kafka)")
    _common(mllp)
    mllp.add_argument("--host", help="listen address (RW_MLLP_HOST)")
    mllp.add_argument("--port", type=port_number, help="listen port (RW_MLLP_PORT)")
    mllp.set_defaults(handler=run_mllp)

    fhir = commands.add_parser("fhir", help="run the FHIR R4 endpoint and the feeds' pollers")
    _common(fhir)
    fhir.add_argument(
        "--listen", type=listen_address, help="host:port (RW_FHIR_HOST, RW_FHIR_PORT)"
    )
    fhir.set_defaults(handler=run_fhir)

    load = commands.add_parser("file", help="load an HL7 file or batch (FHS/BHS) through ingest")
    _common(load)
    load.add_argument("file", type=Path)
    load.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="processes that decode and map messages (a backfill on several cores; default 1)",
    )
    load.set_defaults(handler=run_file)

    quarantine = commands.add_parser("quarantine", help="list, show, replay or purge rejects")
    _common(quarantine)
    quarantine.add_argument("action", choices=("list", "show", "replay", "purge"))
    quarantine.add_argument("entry", nargs="?", help="entry id (show, replay)")
    quarantine.set_defaults(handler=run_quarantine)
    ingest.set_defaults(handler=lambda _args: ingest.print_help() or 2)


def _workers(value: str) -> int:
    """argparse type of --workers: 1 or more processes."""
    try:
        workers = int(value)
    except ValueError:
        workers = 0
    if workers < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of processes (1 or more)")
    return workers


def _say(message: str) -> None:
    """One line on stderr, as every command writes its errors."""
    print(f"remission-watch ingest: {message}", file=sys.stderr)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="feed configuration YAML (RW_INGEST_CONFIG)")
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (RW_KAFKA_BOOTSTRAP)")


def _settings(args: argparse.Namespace) -> Any:
    from ingest.settings import IngestSettings

    overrides: dict[str, object] = {}
    if args.config:
        overrides["ingest_config"] = args.config
    if args.bootstrap:
        overrides["kafka_bootstrap"] = args.bootstrap
    if getattr(args, "host", None):
        overrides["mllp_host"] = args.host
    if getattr(args, "port", None) is not None:
        overrides["mllp_port"] = args.port
    return IngestSettings(**overrides)


def _guarded(work: Any) -> int:
    """Run a command; a user's mistake (configuration, keys) is one line and exit 2."""
    from ingest.config import ConfigError
    from ingest.hl7_intake import Unacknowledged

    try:
        return int(work())
    except (ConfigError, Unacknowledged) as exc:
        _say(str(exc))
        return 2
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        _say(f"cannot use{where}: {(exc.strerror or str(exc)).lower()}")
        return 2


def run_file(args: argparse.Namespace) -> int:
    from ingest.files import load_file
    from ingest.service import running
    from remission_watch.logs import configure_logging

    settings = _settings(args)
    configure_logging(settings.loglevel)

    async def main() -> int:
        async with running(settings, defer=True) as parts:
            counts = await load_file(parts.intake, args.file, args.workers)
        print(json.dumps(dict(sorted(counts.items()))))
        return 0 if counts["AE"] + counts["AR"] == 0 else 1

    if not args.file.exists():
        _say(f"{args.file}: no such file")
        return 2
    if not args.file.is_file():
        _say(f"{args.file} is not a file (a folder?): give one HL7 v2 file")
        return 2
    problem = not_hl7(args.file.read_bytes())
    if problem:
        _say(f"{args.file} {problem}")
        return 1
    return _guarded(lambda: asyncio.run(main()))


def run_mllp(args: argparse.Namespace) -> int:
    from ingest.mllp import MllpServer, tls_context
    from ingest.service import running
    from remission_watch.logs import configure_logging

    settings = _settings(args)
    configure_logging(settings.loglevel)
    tls = None
    if settings.mllp_tls_cert and settings.mllp_tls_key:
        tls = tls_context(settings.mllp_tls_cert, settings.mllp_tls_key)
    check_can_listen(
        settings.mllp_host, settings.mllp_port, "--host, --port, RW_MLLP_HOST, RW_MLLP_PORT"
    )

    async def main() -> int:
        async with running(settings) as parts:
            largest = max(f.max_message_bytes for f in parts.config.feeds)
            server = MllpServer(parts.intake, largest)
            host, port = await server.start(settings.mllp_host, settings.mllp_port, tls)
            print(f"MLLP listening on {host}:{port}", flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            while not stop.is_set():
                parts.quarantine.purge(datetime.now(UTC))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 3600)
            await server.stop()
        return 0

    return _guarded(lambda: asyncio.run(main()))


def run_fhir(args: argparse.Namespace) -> int:
    from remission_watch.logs import configure_logging

    settings = _settings(args)
    if args.listen:
        host, port = args.listen
        settings = settings.model_copy(update={"fhir_host": host, "fhir_port": port})
    if settings.fhir_token is None:
        _say("set RW_FHIR_TOKEN (16 or more characters): FHIR clients must send it")
        return 2
    check_can_listen(settings.fhir_host, settings.fhir_port, "--listen, RW_FHIR_HOST, RW_FHIR_PORT")
    configure_logging(settings.loglevel)
    return _guarded(lambda: asyncio.run(_serve_fhir(settings)))


async def _serve_fhir(settings: Any) -> int:
    import httpx
    import uvicorn

    from ingest.fhir_http import build_fhir_app
    from ingest.fhir_poll import FhirPoller
    from ingest.service import running

    async with running(settings) as parts:
        pollers = {}
        for feed in parts.config.feeds:
            if feed.kind == "fhir" and feed.poll_seconds and feed.fhir_base:
                headers = {}
                if feed.fhir_token_env:
                    headers["Authorization"] = f"Bearer {os.environ.get(feed.fhir_token_env, '')}"
                client = httpx.AsyncClient(timeout=30, headers=headers)
                pollers[feed.name] = FhirPoller(parts.fhir, feed, client)

        async def ping(feed: str) -> None:
            if feed in pollers:
                asyncio.get_running_loop().create_task(pollers[feed].poll_once())

        async def poll_forever(poller: Any) -> None:
            while True:
                try:
                    await poller.poll_once()
                except Exception as exc:  # a server that is down: log the kind, try later
                    logging.getLogger("ingest.fhir.poll").warning(
                        "poll of %s failed: %s", poller.feed.name, type(exc).__name__
                    )
                await asyncio.sleep(poller.feed.poll_seconds)

        token = settings.fhir_token.get_secret_value()
        app = build_fhir_app(parts.fhir, token, ping)
        config = uvicorn.Config(
            app, host=settings.fhir_host, port=settings.fhir_port, log_level="warning"
        )
        tasks = [asyncio.create_task(poll_forever(p)) for p in pollers.values()]
        print(
            f"FHIR endpoint on http://{settings.fhir_host}:{settings.fhir_port}/fhir/<feed>",
            flush=True,
        )
        # uvicorn stops on SIGTERM, then raises it again: a handler of our own makes that
        # second one return here, so the producer and the ledger are closed cleanly.
        signal.signal(signal.SIGTERM, lambda *_: None)
        try:
            await uvicorn.Server(config).serve()
        finally:
            for task in tasks:
                task.cancel()
            for poller in pollers.values():
                await poller.client.aclose()
    return 0


def run_quarantine(args: argparse.Namespace) -> int:
    from ingest.config import load_config
    from ingest.quarantine import QuarantineStore

    settings = _settings(args)

    def work() -> int:
        store = QuarantineStore.from_settings(load_config(settings.ingest_config).quarantine)
        if args.action == "list":
            for e in store.entries():
                line = {
                    "id": e.id,
                    "received_at": e.received_at.isoformat(),
                    "control_id": e.control_id,
                    "sender": e.sender,
                    "reason": e.reason,
                }
                print(json.dumps(line))
            return 0
        if args.action == "purge":
            print(json.dumps({"removed": store.purge(datetime.now(UTC))}))
            return 0
        if not args.entry:
            _say(f"quarantine {args.action} needs an entry id")
            return 2
        try:
            entry = store.get(args.entry)
        except KeyError:
            _say(f"no quarantine entry {args.entry}")
            return 2
        if args.action == "show":  # the operator asked for the raw message: it holds PHI
            sys.stdout.buffer.write(entry.raw.replace(b"\r", b"\n") + b"\n")
            return 0
        return asyncio.run(_replay(settings, store, entry))

    return _guarded(work)


async def _replay(settings: Any, store: Any, entry: Any) -> int:
    """Run the entry through ingest again: taken, it leaves the quarantine; refused again, it
    stays one entry (its reason updated), never a second copy of the same message."""
    from ingest.service import running

    async with running(settings) as parts:
        parts.intake.quarantine = parts.fhir.quarantine = None  # the entry is kept already
        if entry.sender.startswith("fhir:"):
            code, events, reason = await _replay_fhir(parts.fhir, entry)
        else:
            outcome = await parts.intake.handle(entry.raw)
            code, events, reason = outcome.code, outcome.events, outcome.reason
    print(json.dumps({"id": entry.id, "ack": code, "events": events, "reason": reason}))
    if code in ("AA", "200"):
        store.remove(entry.id)
        return 0
    if reason and reason != entry.reason:
        store.put(entry.raw, reason, entry.received_at, entry.control_id, entry.sender)
    return 1


async def _replay_fhir(fhir: Any, entry: Any) -> tuple[str, int, str]:
    from ingest.fhir_intake import BrokerUnavailable, FeedUnknown

    feed = entry.sender.split(":", 1)[1]
    try:
        result = await fhir.accept(feed, json.loads(entry.raw))
    except FeedUnknown:
        return "404", 0, f"no FHIR feed named {feed!r} in the configuration"
    except BrokerUnavailable:
        return "503", 0, "events could not be stored; replay again later"
    if result.failed:
        return result.failed[0].status[:3], 0, result.failed[0].reason
    return "200", result.events, ""
