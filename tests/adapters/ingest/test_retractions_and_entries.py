"""Imaging retractions (HL7 OBR-25 W/D, FHIR DiagnosticReport entered-in-error), FHIR batch
entries that fail alone, resource types that are not read, and the ledger's transactions."""

from __future__ import annotations

from pathlib import Path

import fhir_samples as f
import hl7_samples as s
from test_fhir import client

from ingest.fhir_intake import FhirIntake
from ingest.hl7_intake import Hl7Intake
from ingest.ledger import SqliteLedger
from ingest.quarantine import QuarantineStore
from ingest.sink import MemoryEventSink
from models.events import EventRetracted, ScanCompleted, ScanResulted

FINDING = "RID49481^Category 2 Non-critical Actionable Finding^RadLex"
SCAN = "hl7:RIS:ACC-5512:ct_chest_abdomen_pelvis"
CODED = {
    "conclusionCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "260415000"}]}]
}


async def test_hl7_radiology_report_sent_for_the_wrong_patient_retracts_exam_and_result(
    intake: Hl7Intake, sink: MemoryEventSink
) -> None:
    await intake.handle(s.ct_report(finding=FINDING))
    assert [type(e) for e in sink.events] == [ScanCompleted, ScanResulted]
    outcome = await intake.handle(s.ct_report("RIS-7730013", status="W", finding=FINDING))
    assert (outcome.code, outcome.events) == ("AA", 2)
    retractions = sink.sent[2:]
    assert [(kind, e.target_event_id) for kind, e in retractions] == [  # type: ignore[union-attr]
        ("scan.completed", f"{SCAN}:completed"),
        ("scan.resulted", f"{SCAN}:resulted"),
    ]
    assert all(isinstance(e, EventRetracted) for _, e in retractions)
    assert retractions[0][1].event_id == f"{SCAN}:completed:W:RIS-7730013"


async def test_hl7_radiology_deletion_of_an_exam_never_sent_sends_nothing(
    intake: Hl7Intake, sink: MemoryEventSink
) -> None:
    outcome = await intake.handle(s.ct_report("RIS-9", status="D"))
    assert (outcome.code, outcome.events, outcome.ignored) == ("AA", 0, 1)
    assert sink.sent == []


async def test_fhir_report_entered_in_error_retracts_its_result(
    fhir: FhirIntake, sink: MemoryEventSink
) -> None:
    report = {**f.REPORT, **CODED}
    await fhir.accept("EPIC", f.bundle("batch", f.PATIENT, report))
    (resulted,) = sink.events
    assert isinstance(resulted, ScanResulted)
    in_error = f.version(report, 2, "2027-01-17T09:00:00-05:00", status="entered-in-error")
    result = await fhir.accept("EPIC", in_error)
    assert result.events == 1
    kind, retraction = sink.sent[-1]
    assert kind == "scan.resulted" and isinstance(retraction, EventRetracted)
    assert retraction.target_event_id == resulted.event_id


async def test_fhir_narrative_report_entered_in_error_sends_nothing(
    fhir: FhirIntake, sink: MemoryEventSink
) -> None:
    await fhir.accept("EPIC", f.bundle("batch", f.PATIENT, f.REPORT))  # narrative only
    in_error = f.version(f.REPORT, 2, "2027-01-17T09:00:00-05:00", status="entered-in-error")
    result = await fhir.accept("EPIC", in_error)
    assert (result.events, result.failed) == (0, []) and sink.sent == []


async def test_a_batch_entry_that_is_not_an_object_fails_alone(
    fhir: FhirIntake, sink: MemoryEventSink, quarantine: QuarantineStore
) -> None:
    bundle = f.bundle("batch", f.PATIENT, f.PSA)
    bundle["entry"].insert(1, 42)
    bundle["entry"].append({"request": {"method": "DELETE", "url": "Observation/x"}})
    async with client(fhir) as http:
        response = await http.post("/fhir/EPIC", json=bundle)
    assert response.status_code == 200
    answers = [e["response"] for e in response.json()["entry"]]
    assert [a["status"] for a in answers] == ["200 OK", "400 Bad Request", "200 OK",
                                              "400 Bad Request"]  # fmt: skip
    assert "entry 1" in answers[1]["outcome"]["issue"][0]["diagnostics"]
    assert len(sink.sent) == 1  # the PSA went through
    assert [e.sender for e in quarantine.entries()] == ["fhir:EPIC", "fhir:EPIC"]
    transaction = {**bundle, "type": "transaction"}
    async with client(fhir) as http:  # a transaction stays all or nothing
        assert (await http.post("/fhir/EPIC", json=transaction)).status_code == 400


async def test_a_resource_type_not_read_is_refused_alone_and_ignored_in_a_batch(
    fhir: FhirIntake, sink: MemoryEventSink
) -> None:
    medication = {"resourceType": "Medication", "id": "med-1"}
    async with client(fhir) as http:
        alone = await http.post("/fhir/EPIC", json=medication)
        batch = await http.post("/fhir/EPIC", json=f.bundle("batch", f.PATIENT, medication))
    assert alone.status_code == 422
    issue = alone.json()["issue"][0]
    assert issue["code"] == "not-supported" and "Medication" in issue["diagnostics"]
    (_, entry) = batch.json()["entry"]
    assert entry["response"]["status"] == "200 OK"
    told = entry["response"]["outcome"]["issue"][0]
    assert told["severity"] == "information" and "ignored" in told["diagnostics"]
    assert sink.sent == []


def test_a_ledger_batch_is_undone_when_it_fails_and_kept_when_it_ends(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "l.sqlite3")
    with ledger.batch():
        ledger.put("n", "kept", "1")
        try:
            with ledger.batch():
                ledger.put("n", "undone", "1")
                raise ValueError("a message that fails half way")
        except ValueError:
            pass
    ledger.close()
    again = SqliteLedger(tmp_path / "l.sqlite3")
    assert (again.get("n", "kept"), again.get("n", "undone")) == ("1", None)
    again.close()
