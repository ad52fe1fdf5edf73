"""The patient agent on tansu and on Apache Kafka: plain producers in, plain consumers out."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from models.outputs import Reminder, parse_output
from models.protocols import Catalog
from models.state import load_state
from streams.rebuild import rebuild
from streams.settings import StreamsSettings
from streams.ticker import Ticker, TickPublisher
from streams.topics import TopicNames
from tests.integration.brokers import on_both_brokers
from tests.integration.streams.conftest import collect, produce, running_app
from tests.unit.streams.conftest import T0, event, treated

pytestmark = [pytest.mark.integration, on_both_brokers]


async def test_ticks_turn_events_into_reminders(
    settings: StreamsSettings, catalog: Catalog
) -> None:
    names = TopicNames(settings.topic_prefix)
    patients = [f"p{n}" for n in range(6)]
    async with running_app(settings, catalog):
        await produce(
            settings.kafka_bootstrap,
            [(names.patients, pid, raw) for pid in patients for raw in treated(pid)],
        )
        await collect(
            settings.kafka_bootstrap,
            names.patient_state,
            lambda rs: (
                {r.key for r in rs if load_state(r.value).event_count == 3}
                == {p.encode() for p in patients}
            ),
        )
        async with TickPublisher.from_settings(settings) as publisher:
            await Ticker(T0 + timedelta(days=70), timedelta(days=1)).run(publisher, 1)
        records = await collect(
            settings.kafka_bootstrap, names.reminders, lambda rs: len(rs) >= len(patients)
        )
    reminders = [parse_output(r.value) for r in records]
    assert all(isinstance(r, Reminder) for r in reminders)
    assert {r.key for r in records} == {p.encode() for p in patients}
    assert {r.patient_id for r in reminders} == set(patients)
    report = await rebuild(settings, live_from="snapshots")
    assert report.ok, report


async def test_bad_input_goes_to_deadletter_and_valid_events_around_it_apply(
    settings: StreamsSettings, catalog: Catalog
) -> None:
    names = TopicNames(settings.topic_prefix)
    enrol, started, completed = treated("p1")
    bad = [
        (names.labs, "p1", b"\x00\x01 not json"),
        (names.labs, "p1", b'{"type": "lab.exploded"}'),
        (names.checkins, "p1", event("p1", "x1", "checkin.answered", T0, email="a@b.example")),
        (names.scans, "ghost", event("ghost", "x2", "visit.completed", T0)),
        (names.patients, "p1", None),
        (names.ticks, None, b"tick tock"),
    ]
    valid = [(names.patients, "p1", enrol), (names.patients, "p1", started)]
    async with running_app(settings, catalog):
        await produce(
            settings.kafka_bootstrap,
            [valid[0], *bad[:3], valid[1], *bad[3:], (names.patients, "p1", completed)],
        )
        letters = await collect(
            settings.kafka_bootstrap, names.deadletter, lambda rs: len(rs) >= len(bad)
        )
        snapshots = await collect(
            settings.kafka_bootstrap,
            names.patient_state,
            lambda rs: any(load_state(r.value).event_count == 3 for r in rs),
        )
    dead = [json.loads(r.value) for r in letters]
    assert sorted(d["value_b64"] or "" for d in dead) == sorted(
        base64.b64encode(v).decode() if v else "" for _, _, v in bad
    )
    assert {d["topic"] for d in dead} == {t for t, _, _ in bad}
    assert all({"partition", "offset", "reason"} <= d.keys() for d in dead)
    assert all("a@b.example" not in d["reason"] for d in dead)
    assert load_state(snapshots[-1].value).event_count == 3
    report = await rebuild(settings)
    assert report.ok, report
    assert report.skipped_records >= 4
