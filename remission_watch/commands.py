"""Offline commands: `timeline` folds a file of events with no broker."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "timeline",
        help="fold a JSONL file of events (no Kafka) and show each patient's state and reminders",
        epilog="exit status: 0 every line used, 1 some lines skipped or no events, 2 could not "
        "read the file or write the page",
    )
    p.add_argument("events", type=Path, help="a file of events, one JSON object per line")
    p.add_argument(
        "--at",
        help="assess at this ISO date (the end of that day in each patient's own time zone) "
        "or date-time (that instant for everyone; UTC unless it names a zone); default: now",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--html", type=Path, metavar="FILE", help="also draw the timeline as HTML")
    p.add_argument(
        "--sends-days",
        type=int,
        default=365,
        metavar="N",
        help="with --html, replay what would have been sent in the N days up to --at "
        "(default 365; 0: the whole history, slower on large files)",
    )
    p.set_defaults(handler=_timeline)


def parse_at(text: str | None) -> datetime | date:
    """A date alone stays a date: `timeline` reads it as the day in each patient's own zone."""
    if not text:
        return datetime.now(UTC)
    if len(text) == 10:
        return date.fromisoformat(text)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


SENDS_DAYS_MAX = 36_500  # a hundred years: more than any history, and no date overflows


def refuse(message: str, code: int = 2) -> int:
    """One line on stderr, as every command says why it stopped; the exit status."""
    print(f"remission-watch timeline: {message}", file=sys.stderr)
    return code


def _timeline(args: argparse.Namespace) -> int:
    if args.at is not None and not args.at.strip():
        return refuse(
            "--at is empty: give an ISO date (e.g. 2027-03-01), or leave --at out for now"
        )
    try:
        at = parse_at(args.at)
    except ValueError:
        return refuse(f"--at {args.at!r} is not an ISO date (e.g. 2027-03-01)")
    if not 1970 <= at.year <= 2099:  # the range events may carry (docs/wire-format.md)
        return refuse(f"--at {args.at}: give a date from 1970-01-01 to 2099-12-31")
    if not 0 <= args.sends_days <= SENDS_DAYS_MAX:
        return refuse(
            f"--sends-days {args.sends_days}: give a number of days from 1 to {SENDS_DAYS_MAX}, "
            "or 0 for the whole history"
        )
    if args.html and not args.html.parent.is_dir():
        return refuse(f"--html {args.html}: folder {args.html.parent} does not exist")
    if args.html and args.html.is_dir():
        return refuse(
            f"--html {args.html} is a folder; name a file (e.g. {args.html}/timeline.html)"
        )
    from remission_watch.event_file import UnusableFile, read_event_lines

    try:
        lines = read_event_lines(args.events)
    except UnusableFile as exc:
        return refuse(str(exc), exc.code)

    from remission_watch.protocol_files import load_builtin_catalog
    from remission_watch.timeline import dumps, render_text, timeline

    start = at if isinstance(at, datetime) else datetime.combine(at, time(0), tzinfo=UTC)
    since = start - timedelta(days=args.sends_days) if args.sends_days > 0 else None
    report = timeline(
        lines, at, load_builtin_catalog(), with_sends=bool(args.html), sends_since=since
    )
    print(dumps(report) if args.json else render_text(report))
    if args.html:
        from remission_watch.picture import write_html

        try:
            write_html(report, args.html)
        except OSError as exc:  # /proc, a read-only disk, a full one: said, not a traceback
            return refuse(f"--html {args.html}: cannot write it ({exc.strerror or exc})")
        print(f"wrote {args.html}", file=sys.stderr)
    if args.json:
        for bad in report["bad_lines"]:
            print(f"{args.events}:{bad['line']}: skipped: {bad['reason']}", file=sys.stderr)
    return 1 if report["bad_lines"] else 0
