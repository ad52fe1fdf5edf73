"""The demo's hospital feeds: the HL7 and FHIR it sends become, through ingest, the very events of
its cohort (same patient, type, values, times), and its FHIR is valid R4."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from ingest.config import IngestConfig, load_config
from ingest.fhir_intake import FhirIntake
from ingest.hl7_intake import Hl7Intake
from ingest.ledger import MemoryLedger
from ingest.sink import MemoryEventSink
from models.events import Event
from remission_watch import demo_ingest as d
from remission_watch.demo_cohort import DemoOptions, build_cohort

_SAME = ("patient_id", "type", "loinc", "value", "unit", "item", "scheduled_for", "finding",
         "occurred_at", "recorded_at")  # fmt: skip


@pytest.fixture
def config(tmp_path: Path) -> Iterator[IngestConfig]:
    with d._demo_keys():
        yield load_config(d.write_config(tmp_path))


def hospital_events() -> tuple[dict[str, tuple[str, int]], list[Event]]:
    cohort = build_cohort(DemoOptions())
    feeds, events = d.assign_pseudonyms(cohort.patients, cohort.events)
    ingest = d.DemoIngest.__new__(d.DemoIngest)
    ingest.feeds = feeds
    return feeds, [e for e in events if d.DemoIngest.takes(ingest, e)]


def test_a_third_of_the_patients_come_through_both_feeds_under_their_pseudonym() -> None:
    feeds, events = hospital_events()
    kinds = {feed for feed, _ in feeds.values()}
    assert kinds == {d.HL7_FEED, d.FHIR_FEED}
    assert all(pid.startswith("p-") and len(pid) == 34 for pid in feeds)
    assert {e.type for e in events} >= {"lab.resulted", "scan.scheduled"}
    again, _ = hospital_events()
    assert again == feeds  # the same pseudonyms every run


async def test_hl7_messages_become_the_cohorts_events(config: IngestConfig) -> None:
    feeds, events = hospital_events()
    sink = MemoryEventSink()
    with d._demo_keys():
        intake = Hl7Intake(config, sink, MemoryLedger(), None)
    sent = [e for e in events if feeds[e.patient_id][0] == d.HL7_FEED]
    assert sent
    for event in sent:
        outcome = await intake.handle(d.hl7_message(event, feeds[event.patient_id][1]))
        assert (outcome.code, outcome.events) == ("AA", 1), outcome.reason
    assert [_fields(e) for e in sink.events] == [_fields(e, hl7=True) for e in sent]


async def test_fhir_resources_are_r4_and_become_the_cohorts_events(config: IngestConfig) -> None:
    feeds, events = hospital_events()
    sink = MemoryEventSink()
    with d._demo_keys():
        intake = FhirIntake(config, sink, MemoryLedger(), None)
    sent = [e for e in events if feeds[e.patient_id][0] == d.FHIR_FEED]
    assert {e.type for e in sent} >= {"lab.resulted", "scan.completed", "scan.resulted"}
    for event in sent:
        number = feeds[event.patient_id][1]
        resource = d.fhir_resource(event, number)
        for each in (d.fhir_patient(number), resource):
            get_fhir_model_class(each["resourceType"]).model_validate(each)
        entries = [{"resource": d.fhir_patient(number)}, {"resource": resource}]
        bundle = {"resourceType": "Bundle", "type": "batch", "entry": entries}
        outcome = await intake.accept(d.FHIR_FEED, bundle)
        assert [e.status for e in outcome.entries] == ["200 OK", "200 OK"]
    assert [_fields(e) for e in sink.events] == [_fields(e, fhir=True) for e in sent]


def _fields(event: Event, hl7: bool = False, fhir: bool = False) -> dict[str, Any]:
    """What the fold reads of an event; a scheduling message is dated when it was recorded."""
    values = {name: getattr(event, name, None) for name in _SAME}
    if event.type == "scan.scheduled" and (hl7 or fhir):
        values["occurred_at"] = event.recorded_at
    return values
