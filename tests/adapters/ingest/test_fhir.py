"""FHIR R4 resources through the intake, the HTTP endpoint and the poller."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import fhir_samples as f
import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class

from ingest.fhir_http import build_fhir_app
from ingest.fhir_intake import FhirIntake
from ingest.fhir_poll import FhirPoller
from ingest.sink import MemoryEventSink
from models.events import (
    DeclaredStatus,
    DiseaseStatusDeclared,
    EventCorrected,
    EventRetracted,
    LabResulted,
    PatientDeceased,
    ResultStatus,
    ScanCancelled,
    ScanCompleted,
    ScanFinding,
    ScanResulted,
    ScanScheduled,
)

FIXTURES = [f.PATIENT, f.PSA, f.CEA_IN_ERROR, f.DISEASE_STATUS, f.APPOINTMENT, f.STUDY, f.REPORT]
TOKEN = "t" * 24


def pseudonym() -> str:
    digest = hmac.new(b"k" * 40, b"CANCERCTR|MRN0003003", hashlib.sha256).hexdigest()
    return "p-" + digest[:32]


@pytest.mark.parametrize("resource", FIXTURES, ids=lambda r: r["resourceType"] + "/" + r["id"])
def test_fixtures_are_valid_r4(resource: dict[str, Any]) -> None:
    model = get_fhir_model_class(resource["resourceType"])
    assert model.model_validate(resource).id == resource["id"]


def test_bundle_fixture_is_valid_r4() -> None:
    model = get_fhir_model_class("Bundle")
    assert len(model.model_validate(f.bundle("transaction", f.PATIENT, f.PSA)).entry) == 2


async def test_observation_becomes_a_lab_result_with_the_patients_pseudonym(
    fhir: FhirIntake, sink: MemoryEventSink
) -> None:
    result = await fhir.accept("EPIC", f.bundle("transaction", f.PSA, f.PATIENT))
    assert result.failed == [] and result.events == 1
    (lab,) = sink.events
    assert isinstance(lab, LabResulted)
    assert lab.event_id == "fhir:EPIC:Observation/obs-psa-8842"
    assert lab.patient_id == pseudonym()
    assert (lab.loinc, lab.value, lab.unit, lab.status) == (
        "2857-1",
        0.04,
        "ng/mL",
        ResultStatus.FINAL,
    )
    assert lab.order_id == "sr-700101" and lab.performing_lab == "Century Hospital"
    assert "MRN0003003" not in lab.model_dump_json() and "Testpatient" not in lab.model_dump_json()


async def test_an_unknown_subject_is_refused_and_quarantined(
    fhir: FhirIntake, sink: MemoryEventSink
) -> None:
    result = await fhir.accept("EPIC", f.PSA)
    assert [e.status for e in result.entries] == ["400 Bad Request"]
    assert "Patient/pat-7001 is not known" in result.entries[0].reason
    assert sink.sent == [] and len(fhir.quarantine.entries()) == 1  # type: ignore[union-attr]


async def test_versions_corrections_chain_and_duplicates_add_nothing(
    fhir: FhirIntake, sink: MemoryEventSink
) -> None:
    await fhir.accept("EPIC", f.PATIENT)
    await fhir.accept("EPIC", f.PSA)
    v2 = f.version(
        f.PSA,
        2,
        "2027-02-05T09:00:02-06:00",
        status="corrected",
        valueQuantity={**f.PSA["valueQuantity"], "value": 0.4},
    )
    v3 = f.version(
        f.PSA,
        3,
        "2027-02-06T09:00:00-06:00",
        status="amended",
        valueQuantity={**f.PSA["valueQuantity"], "value": 0.41},
    )
    await fhir.accept("EPIC", v2)
    again = await fhir.accept("EPIC", v2)  # a re-sent notification, or the poll overlap
    await fhir.accept("EPIC", v3)
    assert again.events == 0
    base = "fhir:EPIC:Observation/obs-psa-8842"
    first, second = [e for e in sink.events if isinstance(e, EventCorrected)]
    assert (first.event_id, first.target_event_id) == (f"{base}:C:v2", base)
    assert first.replacement.event_id == f"{base}@v2"
    assert second.target_event_id == f"{base}@v2"
    assert isinstance(second.replacement, LabResulted) and second.replacement.value == 0.41


async def test_entered_in_error_retracts_what_was_sent(
    fhir: FhirIntake, sink: MemoryEventSink
) -> None:
    await fhir.accept("EPIC", f.PATIENT)
    await fhir.accept(
        "EPIC", f.version(f.CEA_IN_ERROR, 1, "2027-02-03T14:02:00-06:00", status="final")
    )
    await fhir.accept("EPIC", f.CEA_IN_ERROR)
    retraction = sink.events[-1]
    assert isinstance(retraction, EventRetracted)
    assert retraction.target_event_id == "fhir:EPIC:Observation/obs-cea-8843"
    assert sink.sent[-1][0] == "lab.resulted"


async def test_scheduling_imaging_and_a_coded_report(
    fhir: FhirIntake, sink: MemoryEventSink
) -> None:
    report = {
        **f.REPORT,
        "conclusionCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "260415000"}]}],
    }
    cancelled = f.version(f.APPOINTMENT, 2, "2026-12-05T10:00:00-05:00", status="cancelled")
    await fhir.accept(
        "EPIC", f.bundle("batch", f.PATIENT, f.APPOINTMENT, f.STUDY, report, cancelled)
    )
    kinds = [type(e) for e in sink.events]
    assert kinds == [ScanScheduled, ScanCompleted, ScanResulted, ScanCancelled]
    scheduled, completed, resulted, _ = sink.events
    assert isinstance(scheduled, ScanScheduled) and scheduled.item == "ct_chest"
    assert {scheduled.order_id, completed.order_id, resulted.order_id} == {"di"}  # type: ignore[union-attr]
    assert completed.item == "ct_chest"  # the study has no code: its order's item  # type: ignore[union-attr]
    assert isinstance(resulted, ScanResulted)
    assert resulted.finding == ScanFinding.NO_EVIDENCE_OF_DISEASE


async def test_a_narrative_only_report_is_not_read(fhir: FhirIntake, sink: MemoryEventSink) -> None:
    result = await fhir.accept("EPIC", f.bundle("batch", f.PATIENT, f.REPORT))
    assert result.failed == [] and result.events == 0


async def test_disease_status_and_death(fhir: FhirIntake, sink: MemoryEventSink) -> None:
    dead = f.version(f.PATIENT, 4, "2028-11-02T08:00:00Z", deceasedDateTime="2028-11-02T03:10:00Z")
    await fhir.accept("EPIC", f.bundle("batch", f.PATIENT, f.DISEASE_STATUS))
    await fhir.accept("EPIC", dead)
    declared, died = sink.events
    assert isinstance(declared, DiseaseStatusDeclared)
    assert declared.status == DeclaredStatus.NO_EVIDENCE_OF_DISEASE
    assert isinstance(died, PatientDeceased) and died.patient_id == pseudonym()
    assert died.event_id == "fhir:EPIC:Patient/pat-7001:deceased"


# ---------------------------------------------------------------------------- HTTP


def client(fhir: FhirIntake, pings: list[str] | None = None) -> httpx.AsyncClient:
    async def ping(feed: str) -> None:
        (pings if pings is not None else []).append(feed)

    app = build_fhir_app(fhir, TOKEN, ping)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://rw",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )


async def test_http_needs_the_token(fhir: FhirIntake, sink: MemoryEventSink) -> None:
    async with client(fhir) as http:
        response = await http.post(
            "/fhir/EPIC", json=f.PATIENT, headers={"Authorization": "Bearer x"}
        )
    assert response.status_code == 401 and sink.sent == []


async def test_http_transaction_is_all_or_nothing(fhir: FhirIntake, sink: MemoryEventSink) -> None:
    broken = {**f.PSA, "id": "obs-2", "status": None}
    async with client(fhir) as http:
        response = await http.post(
            "/fhir/EPIC", json=f.bundle("transaction", f.PATIENT, f.PSA, broken)
        )
        assert response.status_code == 400 and sink.sent == []
        response = await http.post("/fhir/EPIC", json=f.bundle("batch", f.PATIENT, f.PSA, broken))
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "batch-response"
    assert [e["response"]["status"] for e in body["entry"]] == [
        "200 OK",
        "200 OK",
        "400 Bad Request",
    ]
    assert len(sink.sent) == 1


async def test_http_broker_down_is_503(fhir: FhirIntake, sink: MemoryEventSink) -> None:
    sink.fail = True
    async with client(fhir) as http:
        response = await http.post("/fhir/EPIC", json=f.bundle("batch", f.PATIENT, f.PSA))
    assert response.status_code == 503 and response.headers["Retry-After"]
    sink.fail = False
    async with client(fhir) as http:  # the retry goes through: nothing was marked as taken
        response = await http.post("/fhir/EPIC", json=f.bundle("batch", f.PATIENT, f.PSA))
    assert response.status_code == 200 and len(sink.sent) == 1


async def test_subscription_rest_hook_ping_and_payload(
    fhir: FhirIntake, sink: MemoryEventSink
) -> None:
    pings: list[str] = []
    async with client(fhir, pings) as http:
        ping = await http.post("/fhir/EPIC/subscription", content=b"")
        notified = await http.post(
            "/fhir/EPIC/subscription", json=f.bundle("history", f.PATIENT, f.PSA)
        )
    assert ping.status_code == 200 and pings == ["EPIC"]
    assert notified.status_code == 200 and len(sink.sent) == 1


# ---------------------------------------------------------------------------- poller


async def test_poller_follows_next_links_and_its_overlap_adds_nothing(
    fhir: FhirIntake, sink: MemoryEventSink
) -> None:
    requests: list[httpx.URL] = []
    psa2 = {
        **f.PSA,
        "id": "obs-psa-9000",
        "meta": {"versionId": "1", "lastUpdated": "2027-02-04T14:02:00-06:00"},
    }

    def page(resources: list[dict[str, Any]], next_url: str | None) -> dict[str, Any]:
        links = [{"relation": "next", "url": next_url}] if next_url else []
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "link": links,
            "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
        }

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request.url)
        kind = request.url.path.rsplit("/", 1)[-1]
        if kind == "Patient":
            return httpx.Response(200, json=page([f.PATIENT], None))
        if kind == "Observation" and request.url.params.get("page") == "2":
            return httpx.Response(200, json=page([psa2], None))
        if kind == "Observation":
            return httpx.Response(
                200, json=page([f.PSA], "https://fhir.example.org/r4/Observation?page=2")
            )
        return httpx.Response(200, json=page([], None))

    feed = fhir.config.fhir_feed("EPIC")
    assert feed is not None
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        poller = FhirPoller(fhir, feed, http)
        assert await poller.poll_once() == 2
        assert await poller.poll_once() == 0  # the overlap re-reads both; versions de-duplicate
    second_pass = [u for u in requests[len(requests) // 2 :] if u.path.endswith("/Observation")]
    since = second_pass[0].params["_lastUpdated"]
    assert since == "ge2027-02-04T13:52:00-06:00"  # newest seen minus the 600 s overlap
    assert {e.event_id for e in sink.events} == {
        "fhir:EPIC:Observation/obs-psa-8842",
        "fhir:EPIC:Observation/obs-psa-9000",
    }
    assert json.dumps([e.model_dump(mode="json") for e in sink.events]).count("MRN") == 0


async def test_a_lab_no_protocol_uses_stays_out_of_kafka(
    fhir: FhirIntake, sink: MemoryEventSink
) -> None:
    fhir.known_lab = lambda code: code != "2857-1"
    result = await fhir.accept("EPIC", f.bundle("batch", f.PATIENT, f.PSA))
    assert result.failed == [] and sink.sent == []
