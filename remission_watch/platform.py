"""`remission-watch demo` and `up`: every service in one process, on embedded defaults."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import signal
import sys
from typing import Any

from remission_watch.logs import configure_logging


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser(
        "demo",
        help="run the whole platform on embedded parts through five simulated years",
        description="Starts the embedded Kafka broker, the streams worker, the ticker and the "
        "notifier (SQLite, a local SMTP sink and SMS stand-in), enrols a synthetic cohort and "
        "runs it through the real Kafka path with an accelerated clock, then prints what was "
        "sent, deferred, suppressed and escalated, and why.",
    )
    demo.add_argument(
        "--patients",
        type=_at_least(1, int, most=100_000),
        default=40,
        help="cohort size (default 40)",
    )
    demo.add_argument(
        "--years",
        type=_at_least(0.1, float, most=50),
        default=5.0,
        help="simulated years (default 5)",
    )
    demo.add_argument(
        "--seed", type=int, default=7, help="the cohort's seed: the same seed, the same figures"
    )
    demo.add_argument("--json", action="store_true", help="print the report as JSON")
    demo.set_defaults(handler=_demo)

    up = sub.add_parser(
        "up",
        help="run broker (embedded unless RW_KAFKA_BOOTSTRAP is set), worker, ticker and "
        "notifier on the wall clock until Ctrl-C",
    )
    up.set_defaults(handler=_up)


def _at_least(low: float, kind: type[int] | type[float], most: float) -> Any:
    """An argparse type: a finite number of `kind` from `low` to `most`, else a one-line usage
    error (nan passes every comparison; a huge cohort would run for days)."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low:g}, got {text}")
        if value > most:
            raise argparse.ArgumentTypeError(f"must be at most {most:g}, got {text}")
        return value

    return parse


def _demo(args: argparse.Namespace) -> int:
    from remission_watch.demo import run_demo
    from remission_watch.demo_cohort import DemoOptions
    from remission_watch.demo_report import print_report

    configure_logging(logging.WARNING, fmt="text")
    options = DemoOptions(patients=args.patients, years=args.years, seed=args.seed)
    signalled: list[int] = []

    async def main() -> dict[str, Any]:
        demo = asyncio.current_task()
        assert demo is not None
        _cancel_on_signals(demo, signalled)
        return await run_demo(options, progress=not args.json)

    try:
        report = asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        signalled.append(signal.SIGINT)
    if signalled:
        print("demo interrupted; everything it started has been stopped", file=sys.stderr)
        return 128 + signalled[0]  # the shell's convention: 130 for SIGINT, 143 for SIGTERM
    print_report(report, as_json=args.json)
    return 0 if report["problems"] == [] else 1


def _cancel_on_signals(task: asyncio.Task[Any], signalled: list[int]) -> None:
    """SIGINT and SIGTERM cancel `task`, whose cleanup stops its services in order (the
    broker last); the signal is recorded in `signalled`. A second signal while that cleanup
    runs exits at once: the broker then dies with us (see `streams.embedded`).

    Without this, SIGTERM (timeout, systemd, docker stop) killed the demo outright and left
    its broker running, and Ctrl-C stopped things in whatever order asyncio picked.
    """
    loop = asyncio.get_running_loop()

    def on_signal(number: int) -> None:
        if signalled:
            print("interrupted again; exiting now", file=sys.stderr, flush=True)
            os._exit(128 + signalled[0])
        signalled.append(number)
        task.cancel()

    for number in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows loops
            loop.add_signal_handler(number, on_signal, number)


def _up(_args: argparse.Namespace) -> int:
    from remission_watch.up import run_up

    configure_logging(logging.INFO)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await run_up(stop, dict(os.environ))

    asyncio.run(main())
    return 0


__all__ = ["register"]
