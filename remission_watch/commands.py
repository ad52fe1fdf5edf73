"""Offline commands: `timeline` folds a file of events with no broker."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from remission_watch.protocol_files import load_builtin_catalog


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "timeline",
        help="fold a JSONL file of events (no Kafka) and show each patient's state and reminders",
    )
    p.add_argument("events", type=Path, help="a file of events, one JSON object per line")
    p.add_argument("--at", help="assess at this ISO date or datetime (default: now, UTC)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--html", type=Path, metavar="FILE", help="also draw the timeline as HTML")
    p.set_defaults(handler=_timeline)


def parse_at(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def _timeline(args: argparse.Namespace) -> int:
    from remission_watch.timeline import dumps, render_text, timeline

    try:
        at = parse_at(args.at)
    except ValueError:
        print(f"--at {args.at!r} is not an ISO date (e.g. 2027-03-01)", file=sys.stderr)
        return 2
    if not args.events.is_file():
        print(f"{args.events}: no such file", file=sys.stderr)
        return 2
    with args.events.open(encoding="utf-8") as lines:
        report = timeline(lines, at, load_builtin_catalog(), with_sends=bool(args.html))
    print(dumps(report) if args.json else render_text(report))
    if args.html:
        from remission_watch.picture import write_html

        write_html(report, args.html)
        print(f"wrote {args.html}", file=sys.stderr)
    if args.json:
        for bad in report["bad_lines"]:
            print(f"{args.events}:{bad['line']}: skipped: {bad['reason']}", file=sys.stderr)
    return 0
