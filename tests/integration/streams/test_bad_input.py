"""Attacked as an upstream system would: bad records on every input topic, and a burst of
labs racing their enrolments. Nothing valid is lost, nothing bad is silent, the agent goes on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from models.protocols import Catalog
from models.state import load_state
from streams.rebuild import read_all
from streams.settings import StreamsSettings
from streams.topics import TopicNames
from tests.integration.streams.conftest import collect, running_app
from tests.unit.streams.conftest import T0, treated

pytestmark = pytest.mark.integration

Body = dict[str, Any]


def body(patient_id: str, event_id: str, kind: str, days: float, **fields: Any) -> Body:
    at = (T0 + timedelta(days=days)).isoformat()
    return {
        "type": kind,
        "event_id": event_id,
        "patient_id": patient_id,
        "occurred_at": at,
        "recorded_at": at,
        "source": "test",
        **fields,
    }


# One valid event of each input topic's own kind (n numbers it, days places it).
VALID: dict[str, Callable[[str, int], Body]] = {
    "patients": lambda p, n: body(p, f"{p}-v{n}", "visit.completed", 40 + n),
    "labs": lambda p, n: body(
        p, f"{p}-l{n}", "lab.resulted", 40 + n, order_id=f"o{n}", loinc="2039-6", value=1.2
    ),
    "scans": lambda p, n: body(
        p, f"{p}-s{n}", "scan.completed", 40 + n, order_id=f"o{n}", item="mammogram"
    ),
    "assessments": lambda p, n: body(
        p,
        f"{p}-a{n}",
        "response.assessed",
        40 + n,
        assessment={"system": "mrd", "method": "ngs", "sensitivity": 1e-5, "detected": False},
    ),
    "checkins": lambda p, n: body(p, f"{p}-c{n}", "checkin.answered", 40 + n, score=3),
}
WRONG_TOPIC = {"patients": "labs", "labs": "scans", "scans": "checkins",
               "assessments": "patients", "checkins": "assessments"}  # fmt: skip


def dumps(value: Body) -> bytes:
    return json.dumps(value).encode()


def non_finite(stem: str, good: Body) -> bytes:
    """The event with NaN or Infinity in a number field of its own kind."""
    raw = dumps(good)
    for number, literal in ((b'"value": 1.2', b'"value": NaN'),
                            (b'"sensitivity": 1e-05', b'"sensitivity": Infinity'),
                            (b'"score": 3', b'"score": NaN')):  # fmt: skip
        if number in raw:
            return raw.replace(number, literal)
    return raw[:-1] + b', "schema_version": -Infinity}'


def bad_records(stem: str, p: str) -> list[tuple[str, bytes | None, bytes | None]]:
    """(kind, key, value): 24 kinds of bad record for topic `stem`, about patient `p`."""
    good = VALID[stem](p, 900)
    key = p.encode()
    other = VALID[WRONG_TOPIC[stem]](p, 901)

    def with_(**changes: Any) -> bytes:
        return dumps(good | changes)

    def without(field: str) -> bytes:
        return dumps({k: v for k, v in good.items() if k != field})

    foreign = dict(good, patient_id="someone-else")
    return [
        ("not json", key, b"\xff\xfe{ not json"),
        ("empty bytes", key, b""),
        ("tombstone", key, None),
        ("json array", key, b"[1, 2, 3]"),
        ("json number", key, b"42"),
        ("unknown type", key, with_(type="lab.exploded")),
        ("no type", key, without("type")),
        ("no event_id", key, without("event_id")),
        ("extra field", key, with_(phone="+15551234567")),
        ("patient_id an email", b"a@b.example", with_(patient_id="a@b.example")),
        ("naive time", key, with_(occurred_at="2026-01-01T10:00:00")),
        ("year 1900", key, with_(occurred_at="1900-01-01T00:00:00Z")),
        ("year 9999", key, with_(recorded_at="9999-12-31T23:59:59Z")),
        ("not a date", key, with_(occurred_at="yesterday")),
        ("wrong topic", key, dumps(other)),
        ("key an MRN", b"MRN-00012345", dumps(good)),
        ("no key", None, dumps(good)),
        ("non-finite number", key, non_finite(stem, good)),
        ("schema_version NaN", key, dumps(good)[:-1] + b', "schema_version": NaN}'),
        ("schema_version 2", key, with_(schema_version=2)),
        ("one megabyte", key, with_(note="x" * 900_000)),
        ("event_id too long", key, with_(event_id="e" * 201)),
        ("deep nesting", key, b'{"a":' * 5_000 + b"1" + b"}" * 5_000),
        (
            "correction moving a fact",
            key,
            dumps(
                body(
                    p,
                    f"{p}-fix",
                    "event.corrected",
                    902,
                    target_event_id=f"{p}-x",
                    replacement=foreign,
                )
            ),
        ),
    ]


async def test_bad_records_on_every_topic_are_dead_lettered_between_applied_neighbours(
    settings: StreamsSettings, catalog: Catalog
) -> None:
    names = TopicNames(settings.topic_prefix)
    stems = list(VALID)
    patients = {stem: f"bad-{stem}" for stem in stems}
    records: list[tuple[str, bytes | None, bytes | None]] = []
    for p in patients.values():
        records += [(names.patients, p.encode(), raw) for raw in treated(p)]
    expected_events = {p: 3 for p in patients.values()}
    bad_count = 0
    for stem in stems:
        p, topic = patients[stem], getattr(names, stem)
        for n, (_, key, value) in enumerate(bad_records(stem, p)):
            records.append((topic, p.encode(), dumps(VALID[stem](p, 2 * n))))
            records.append((topic, key, value))
            records.append((topic, p.encode(), dumps(VALID[stem](p, 2 * n + 1))))
            bad_count += 1
            expected_events[p] += 2
    kinds = len(bad_records("labs", "x"))

    async with running_app(settings, catalog) as app:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap, acks="all", max_request_size=2_000_000
        )
        await producer.start()
        try:
            for topic, key, value in records:
                await producer.send_and_wait(topic, value, key=key)
        finally:
            await producer.stop()
        letters = await collect(
            settings.kafka_bootstrap, names.deadletter, lambda rs: len(rs) >= bad_count, 90
        )
        snapshots = await collect(
            settings.kafka_bootstrap,
            names.patient_state,
            lambda rs: (
                {r.key.decode(): load_state(r.value).event_count for r in rs if r.key}
                == expected_events
            ),
            90,
        )
        processor = app.streams_processor  # type: ignore[attr-defined]
        assert processor.agent_starts == 1  # never restarted

    dead = [json.loads(r.value) for r in letters]
    assert kinds >= 20 and len(dead) == bad_count == kinds * len(stems)
    assert {d["topic"] for d in dead} == {getattr(names, s) for s in stems}
    for stem in stems:  # every kind on every topic, each with a reason
        on_topic = [d for d in dead if d["topic"] == getattr(names, stem)]
        assert len(on_topic) == kinds and all(d["reason"] for d in on_topic)
    assert max(len(r.value) for r in letters) < 64 * 1024
    assert any(d["truncated"] for d in dead)
    assert not any("+15551234567" in d["reason"] or "MRN" in d["reason"] for d in dead)
    assert len(snapshots) >= len(patients)


async def test_a_burst_of_enrolments_and_labs_loses_nothing(
    settings: StreamsSettings, catalog: Catalog
) -> None:
    names = TopicNames(settings.topic_prefix)
    patients = [f"burst-{n:04d}" for n in range(2_000)]
    labs = [(names.labs, p, dumps(VALID["labs"](p, 1))) for p in patients]
    enrolments = [(names.patients, p, treated(p)[0]) for p in patients]

    async with running_app(settings, catalog):
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            # Labs first, enrolments racing them on their own topic: one burst, not awaited
            # record by record.
            sent = [
                await producer.send(topic, value, key=key.encode())
                for pair in zip(labs, enrolments, strict=True)
                for topic, key, value in pair
            ]
            await asyncio.gather(*sent)
        finally:
            await producer.stop()
        snapshots = await collect(
            settings.kafka_bootstrap,
            names.patient_state,
            lambda rs: (
                len({r.key for r in rs if load_state(r.value).event_count == 2}) == len(patients)
            ),
            120,
        )
        letters = await read_all(settings.kafka_bootstrap, [names.deadletter])

    folded = {r.key.decode() for r in snapshots if load_state(r.value).event_count == 2}
    assert folded == set(patients)
    assert letters == []
