"""A JSON Lines file of events, read one way for every command that takes one (`timeline`,
`publish`): the same refusals for a file that cannot be used, the same words for a bad line."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from models.events import Event, parse_event

UTF16_MARKS = {b"\xff\xfe": "FF FE", b"\xfe\xff": "FE FF"}


class UnusableFile(Exception):
    """The events file cannot be used at all; the message says why, in one line.

    `code` is the exit status: 2 when it could not be read (missing, a folder, not UTF-8),
    1 when it was read and holds no events to use (empty, a JSON array).
    """

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class BadLine:
    line: int
    reason: str


def read_event_lines(path: Path) -> list[str]:
    """The file's lines (UTF-8, a byte-order mark allowed), or `UnusableFile` saying why not.

    A byte that is not UTF-8 refuses the whole file: a Latin-1 file decodes as UTF-8 except on
    its accented lines, and skipping those would drop events without the user noticing.
    """
    if path.is_dir():
        raise UnusableFile(f"{path} is a folder; give a file of events (e.g. {path}/all.jsonl)", 2)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UnusableFile(f"{path}: no such file", 2) from None
    except OSError as exc:
        raise UnusableFile(f"{path}: cannot read: {exc.strerror or exc}", 2) from None
    mark = UTF16_MARKS.get(data[:2])
    if mark:
        raise UnusableFile(
            f"{path} is UTF-16 (it starts with the byte-order mark {mark}); save it as UTF-8 "
            f"(e.g. iconv -f utf-16 -t utf-8 {path} > events.jsonl)",
            2,
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UnusableFile(
            f"{path}:{line}: not UTF-8 (byte 0x{data[exc.start]:02x}); the file is probably "
            "Latin-1 or Windows-1252: save it as UTF-8 (e.g. iconv -f latin1 -t utf-8), "
            "no line of it was used",
            2,
        ) from None
    lines = text.splitlines()
    first = next((line.lstrip() for line in lines if line.strip()), None)
    if first is None:
        raise UnusableFile(f"{path} is empty: no events (one JSON object per line)", 1)
    if first.startswith("["):
        raise UnusableFile(
            f"{path} holds a JSON array, not JSON Lines (one event object per line); convert "
            f"it with: jq -c '.[]' {path} > events.jsonl",
            1,
        )
    return lines


def read_events(lines: Iterable[str]) -> Iterator[tuple[int, Event | BadLine]]:
    """Each non-blank line parsed as an event, or a `BadLine` naming what is wrong with it."""
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            yield number, parse_event(text)
        except ValidationError as exc:
            yield number, BadLine(number, line_problems(exc))


def line_problems(exc: ValidationError) -> str:
    """Every problem of the line, each named by its field (a typo'd name shows as extra)."""
    errors = exc.errors(include_url=False, include_input=False)
    if not errors:
        return "invalid event"
    first = errors[0]
    if first.get("type") == "union_tag_invalid":
        tag = (first.get("ctx") or {}).get("tag")
        return f"unknown event type {tag!r} (see docs/wire-format.md)"
    problems = []
    for error in errors:
        where = ".".join(str(part) for part in error.get("loc", ()))
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "extra_forbidden":
            message = "not a field of this event type (misspelt?)"
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)
