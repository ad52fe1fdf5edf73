"""Fixtures for the streams unit tests: a tiny protocol catalog and event builders."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import pytest

import streams.processor
from models.protocols import Catalog
from streams.metrics import StreamsMetrics
from streams.processor import PatientProcessor, TickRule
from streams.settings import StreamsSettings
from streams.sink import MemorySink
from streams.topics import TopicNames

PROTOCOL = """
id: test-breast
version: "1"
guideline: Test guideline
source: Test source
published: 2024-01-01
reviewed: 2024-01-01
provisional: true
applies_to:
  site: breast
priority: 10
anchor: treatment_end
items:
  - id: history_physical
    label: Clinic visit
    category: visit
    source: Test source
    date: 2024-01-01
    satisfied_by:
      items: [history_physical]
    phases:
      - from_years: 0
        to_years: null
        every_months: [3, 6]
"""

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog.from_texts({"test-breast.yaml": PROTOCOL})


def event(patient_id: str, event_id: str, kind: str, at: datetime, **fields: Any) -> bytes:
    """The wire bytes of one event, as upstream publishes them."""
    body = {
        "event_id": event_id,
        "patient_id": patient_id,
        "occurred_at": at.isoformat(),
        "recorded_at": at.isoformat(),
        "source": "test",
        "type": kind,
        **fields,
    }
    return json.dumps(body).encode()


def treated(patient_id: str, at: datetime = T0) -> list[bytes]:
    """Enrolment, surgery and its completion 30 days later: reminders follow from then on."""
    return [
        event(patient_id, f"{patient_id}-enr", "patient.enrolled", at, site="breast"),
        event(
            patient_id,
            f"{patient_id}-tx1",
            "treatment.started",
            at,
            treatment_id="t1",
            modality="surgery",
        ),
        event(
            patient_id,
            f"{patient_id}-tx2",
            "treatment.completed",
            at + timedelta(days=30),
            treatment_id="t1",
            modality="surgery",
        ),
    ]


EventFactory = Callable[..., bytes]


def patient_key(raw: bytes | None) -> bytes | None:
    """The key upstream gives an event record: its patient_id (None for anything else)."""
    try:
        body = json.loads(raw or b"")
    except ValueError:
        return None
    patient_id = body.get("patient_id") if isinstance(body, dict) else None
    return patient_id.encode() if isinstance(patient_id, str) else None


class AgentDriver:
    """Delivers records to an agent under test_context as if read from a topic partition."""

    def __init__(self, agent: Any, processor: Any) -> None:
        self.agent = agent
        self.processor = processor
        self.sent = 0
        self._original = agent.to_message
        self._route: tuple[str, int] = ("", 0)
        agent.to_message = self._to_message

    def _to_message(self, key: Any, value: Any, **kwargs: Any) -> Any:
        topic, partition = self._route
        message = self._original(key, value, **{**kwargs, "partition": partition})
        message.topic = topic
        message.tp = message.tp._replace(topic=topic, partition=partition)
        return message

    async def send(
        self, topic: str, value: bytes | None, partition: int = 0, key: bytes | None = None
    ) -> None:
        """Deliver one record and return once the agent's batch holding it is written; an
        event's key is its patient_id unless given."""
        self._route = (topic, partition)
        key = key or patient_key(value)
        await self.agent.put(value, key=key, partition=partition, wait=False)
        self.sent += 1
        async with asyncio.timeout(10):
            while self.processor.records_handled < self.sent:
                await asyncio.sleep(0.005)


def memory_processor(catalog: Catalog, names: TopicNames | None = None) -> MemoryRun:
    """A processor over plain dicts and a MemorySink: no Faust, no broker."""
    patients: dict[str, bytes] = {}
    sink = MemorySink()
    processor = PatientProcessor(
        patients,
        {},
        catalog=catalog,
        sink=sink,
        names=names or TopicNames(),
        metrics=StreamsMetrics(),
        bucket_seconds=StreamsSettings().due_bucket_seconds,
        ticks=TickRule(simulated=True),
    )
    return MemoryRun(processor, patients, sink)


class MemoryRun(NamedTuple):
    processor: PatientProcessor
    patients: dict[str, bytes]
    sink: MemorySink


async def treated_in_memory(catalog: Catalog, patient_ids: list[str]) -> MemoryRun:
    """A memory processor (default topic names) with each patient enrolled and treated
    (`treated`), each record keyed by its patient_id as on the topic (an event without that
    key is dead-lettered): the uninterrupted reference run the broker tests compare with."""
    run = memory_processor(catalog)
    topic = run.processor.names.patients
    for patient_id in patient_ids:
        for raw in treated(patient_id):
            await run.processor.handle(
                raw, topic=topic, partition=0, offset=0, key=patient_id.encode()
            )
    return run


def count_settles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Patient ids in the order the processor settles them, from now on."""
    settled: list[str] = []
    real = streams.processor.settle

    def counting(state, now, catalog, known=None):  # type: ignore[no-untyped-def]
        settled.append(state.patient_id)
        return real(state, now, catalog, known)

    monkeypatch.setattr(streams.processor, "settle", counting)
    return settled
