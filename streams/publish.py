"""`remission-watch publish FILE.jsonl`: validated events onto their topics, keyed by patient."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaProducer

from remission_watch.event_file import BadLine, read_event_lines, read_events
from streams.settings import StreamsSettings
from streams.topics import TopicNames, create_topics

IN_FLIGHT = 2000  # sends awaited together: fast, and a failure surfaces soon


@dataclass
class PublishReport:
    lines: int = 0
    sent: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)
    bad: list[BadLine] = field(default_factory=list)


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

    The file is read and validated whole, as `timeline` reads it (`read_event_lines`, which
    raises `UnusableFile`), before the broker is asked: a file that cannot be used is said so
    even when no broker is reachable. `progress(events sent, lines done, lines)` is called
    every `progress_every` seconds.
    """
    lines = read_event_lines(path)
    names = TopicNames(settings.topic_prefix)
    report = PublishReport(lines=len(lines))
    good: list[tuple[int, str, str]] = []  # line number, topic, key: not the whole event
    for number, item in read_events(lines):
        if isinstance(item, BadLine):
            report.bad.append(item)
        else:
            good.append((number, names.for_event(item.type), item.patient_id))
    producer = None if dry_run else await _producer(settings)
    try:
        pending: list[asyncio.Future[object]] = []
        last = time.monotonic()
        for number, topic, patient_id in good:
            report.by_topic[topic] = report.by_topic.get(topic, 0) + 1
            if producer is not None:
                value = lines[number - 1].strip().encode()  # as written
                pending.append(await producer.send(topic, value, key=patient_id.encode()))
                if len(pending) >= IN_FLIGHT:
                    await asyncio.gather(*pending)
                    pending.clear()
            report.sent += 1
            if progress is not None and time.monotonic() - last >= progress_every:
                progress(report.sent, number, report.lines)
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
