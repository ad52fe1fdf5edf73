"""`remission-watch publish FILE.jsonl`: validated events onto their topics, keyed by patient."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from models.events import Event, parse_event
from streams.settings import StreamsSettings
from streams.topics import TopicNames, create_topics

IN_FLIGHT = 2000  # sends awaited together: fast, and a failure surfaces soon


class CannotPublish(RuntimeError):
    """Publishing could not run (file missing or unreadable): one line says why."""


@dataclass(frozen=True)
class BadLine:
    line: int
    reason: str


@dataclass
class PublishReport:
    lines: int = 0
    sent: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)
    bad: list[BadLine] = field(default_factory=list)


def validated(raw: bytes) -> Event:
    """One line as an event, or ValueError with every problem (field paths, no values)."""
    try:
        return parse_event(raw.strip())
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '<line>'}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise ValueError("; ".join(problems)) from None


def read_lines(path: Path) -> Iterator[tuple[int, bytes, int]]:
    """(line number, bytes, bytes read so far) of a JSON Lines file; a UTF-8 BOM is dropped."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise CannotPublish(f"{path}: cannot read it ({exc.strerror or exc})") from None
    with handle:
        done = 0
        for number, raw in enumerate(handle, start=1):
            done += len(raw)
            yield number, raw.removeprefix(b"\xef\xbb\xbf") if number == 1 else raw, done


async def publish(
    path: Path,
    settings: StreamsSettings,
    *,
    dry_run: bool = False,
    progress: Callable[[int, int, int], None] | None = None,
    progress_every: float = 2.0,
) -> PublishReport:
    """Validate every line; send the valid ones to their topics (key: patient_id), in file
    order, so one patient's events keep their order; bad lines are reported, never sent.
    `progress(events sent, bytes read, file size)` is called every `progress_every` seconds."""
    if path.is_dir():
        raise CannotPublish(f"{path}: is a folder, not a JSON Lines file")
    if not path.exists():
        raise CannotPublish(f"{path}: no such file")
    names = TopicNames(settings.topic_prefix)
    size = path.stat().st_size
    report = PublishReport()
    producer = None if dry_run else await _producer(settings)
    try:
        pending: list[asyncio.Future[object]] = []
        last = time.monotonic()
        for number, raw, done in read_lines(path):
            report.lines = number
            if not raw.strip():
                continue  # blank lines carry nothing
            try:
                event = validated(raw)
            except ValueError as exc:
                report.bad.append(BadLine(number, str(exc)))
                continue
            topic = names.for_event(event.type)
            report.by_topic[topic] = report.by_topic.get(topic, 0) + 1
            if producer is not None:
                key = event.patient_id.encode()
                pending.append(await producer.send(topic, raw.strip(), key=key))
                if len(pending) >= IN_FLIGHT:
                    await asyncio.gather(*pending)
                    pending.clear()
            report.sent += 1
            if progress is not None and time.monotonic() - last >= progress_every:
                progress(report.sent, done, size)
                last = time.monotonic()
        await asyncio.gather(*pending)
    finally:
        if producer is not None:
            await producer.stop()
    return report


async def _producer(settings: StreamsSettings) -> AIOKafkaProducer:
    """A producer, after every topic exists with its planned count and configs (a producer
    writing first would make some brokers auto-create a topic with their own count)."""
    await create_topics(settings)  # an unreachable broker raises here; the CLI says so
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        linger_ms=20,
        **settings.kafka_client_options(),  # TLS/SASL (streams.kafka_security)
    )
    await producer.start()
    return producer


def render(report: PublishReport, path: Path, dry_run: bool) -> str:
    verb = "valid" if dry_run else "published"
    topics = ", ".join(f"{n} to {t}" for t, n in sorted(report.by_topic.items()))
    lines = [
        f"{path}: {report.sent} of {report.lines} lines {verb}" + (f" ({topics})" if topics else "")
    ]
    if report.bad:
        lines.append(f"{len(report.bad)} bad lines, not sent:")
        lines += [f"{path}:{b.line}: {b.reason}" for b in report.bad]
    return "\n".join(lines)


def as_json(report: PublishReport) -> str:
    return json.dumps(
        {
            "lines": report.lines,
            "sent": report.sent,
            "by_topic": report.by_topic,
            "bad_lines": [{"line": b.line, "reason": b.reason} for b in report.bad],
        },
        indent=2,
    )
