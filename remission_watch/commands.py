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


class UnusableFile(Exception):
    """The events file cannot be used at all; the message says why, in one line."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def read_event_lines(path: Path) -> list[str]:
    """The file's lines (UTF-8, a byte-order mark allowed), or `UnusableFile` saying why not."""
    if path.is_dir():
        raise UnusableFile(f"{path} is a folder; give a file of events (e.g. {path}/all.jsonl)", 2)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UnusableFile(f"{path}: no such file", 2) from None
    except OSError as exc:
        raise UnusableFile(f"{path}: cannot read: {exc.strerror or exc}", 2) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UnusableFile(
            f"{path}:{line}: not UTF-8 (byte 0x{data[exc.start]:02x}); the file is probably "
            "Latin-1 or Windows-1252: save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
            2,
        ) from None
    lines = text.splitlines()
    first = next((line.lstrip() for line in lines if line.strip()), None)
    if first is None:
        raise UnusableFile(f"{path} is empty: no events to fold (one JSON object per line)", 1)
    if first.startswith("["):
        raise UnusableFile(
            f"{path} holds a JSON array; timeline reads JSON Lines, one event object per line "
            f"(convert with: jq -c '.[]' {path} > events.jsonl)",
            1,
        )
    return lines


def _timeline(args: argparse.Namespace) -> int:
    try:
        at = parse_at(args.at)
    except ValueError:
        print(f"--at {args.at!r} is not an ISO date (e.g. 2027-03-01)", file=sys.stderr)
        return 2
    if args.html and not args.html.parent.is_dir():
        print(f"--html {args.html}: folder {args.html.parent} does not exist", file=sys.stderr)
        return 2
    if args.html and args.html.is_dir():
        print(
            f"--html {args.html} is a folder; name a file (e.g. {args.html}/timeline.html)",
            file=sys.stderr,
        )
        return 2
    try:
        lines = read_event_lines(args.events)
    except UnusableFile as exc:
        print(exc, file=sys.stderr)
        return exc.code

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

        write_html(report, args.html)
        print(f"wrote {args.html}", file=sys.stderr)
    if args.json:
        for bad in report["bad_lines"]:
            print(f"{args.events}:{bad['line']}: skipped: {bad['reason']}", file=sys.stderr)
    return 1 if report["bad_lines"] else 0
