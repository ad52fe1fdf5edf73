"""Part of the demo cohort arrives as a hospital's feeds would send it: HL7 v2 over MLLP and FHIR
R4 to the ingest service, which publishes the events to Kafka only then acknowledges.

Some patients (chosen by their number, so the same every run) are "hospital patients": their
enrolment is published under the pseudonym ingest computes from their MRN (as whoever enrols
must, docs/ingest.md), and their lab results and scans are not produced as JSON but sent as
ORU^R01 / SIU^S12 over one MLLP connection (a real socket client) or as FHIR Observations,
Appointments, ImagingStudies and DiagnosticReports in a batch Bundle to the FHIR endpoint.
Every message is built from the cohort's own event, with its own timestamps: no wall clock.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from models.events import Event, LabResulted, ScanCompleted, ScanResulted, ScanScheduled

HL7_FEED, FHIR_FEED = "DEMO-LAB", "DEMO-FHIR"
MRN_SYSTEM = "urn:oid:2.16.840.1.113883.3.9999.7"
# Demo-only keys, written here on purpose: the demo's pseudonyms must be the same every run.
PSEUDONYM_KEY = "remission-watch-demo-pseudonym-key-not-a-secret"
QUARANTINE_KEY = base64.urlsafe_b64encode(b"remission-watch-demo-quarantine!").decode()
FHIR_TOKEN = "remission-watch-demo-fhir-token"
# Scan items of the synthetic cohort and the CPT codes the demo RIS orders them under.
PROCEDURES = {
    "77067": "mammogram",
    "74178": "ct_chest_abdomen_pelvis",
    "71260": "ct_chest",
    "76536": "neck_ultrasound",
    "74177": "ct_abdomen_pelvis",
}
CPT = {item: code for code, item in PROCEDURES.items()}
FINDINGS = {"NED": "no_evidence_of_disease", "IND": "indeterminate", "SUS": "suspicious",
            "PD": "progression"}  # fmt: skip
FINDING_CODE = {finding: code for code, finding in FINDINGS.items()}
# What each feed brings. A radiology ORU carries the exam and its report together, so HL7
# patients' scan.completed / scan.resulted stay JSON: one ORU per event would repeat one.
_TAKEN = {
    HL7_FEED: ("lab.resulted", "scan.scheduled"),
    FHIR_FEED: ("lab.resulted", "scan.scheduled", "scan.completed", "scan.resulted"),
}

CONFIG = """\
pseudonym: {{key_env: RW_DEMO_PSEUDONYM_KEY, prefix: "p-"}}
quarantine: {{path: "{folder}/quarantine", key_env: RW_DEMO_QUARANTINE_KEY}}
ledger: "{folder}/ingest-ledger.sqlite3"
feeds:
  - name: {hl7}
    sending_facility: DEMO LAB
    mrn: {{type: MR, assigning_authority: DEMO}}
    mrn_namespace: DEMO
    labs: all
    procedures: {procedures}
  - name: {fhir}
    kind: fhir
    mrn: {{type: MR, system: "{system}"}}
    mrn_namespace: DEMO
    labs: all
    procedures: {procedures}
    findings: {findings}
"""


def feed_of(number: int, events: list[Event]) -> str | None:
    """Which feed brings patient `number`'s results, if any: a third of the cohort, HL7 and
    FHIR in turn. Patients whose history holds a JSON correction stay on JSON (a correction
    names its target's event id, which ingest renames)."""
    if any(e.type == "event.corrected" for e in events):
        return None
    return {1: HL7_FEED, 3: FHIR_FEED}.get(number % 6)


def mrn_of(number: int) -> str:
    return f"DMRN{number:06d}"


@dataclass
class IngestTally:
    """What went through ingest: messages, their answers, and the events they carried."""

    hl7_messages: int = 0
    hl7_acks: Counter[str] = field(default_factory=Counter)
    fhir_requests: int = 0
    fhir_entries: Counter[str] = field(default_factory=Counter)
    events: int = 0
    patients: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "patients": dict(sorted(self.patients.items())),
            "hl7_messages_sent_over_mllp": self.hl7_messages,
            "hl7_acks": dict(sorted(self.hl7_acks.items())),
            "fhir_requests": self.fhir_requests,
            "fhir_entries": dict(sorted(self.fhir_entries.items())),
            "events_through_ingest": self.events,
        }


class DemoIngest:
    """The ingest service of the demo (MLLP listener and FHIR endpoint, on the demo's broker)
    and the hospital side: an MLLP client on one connection and a FHIR client."""

    def __init__(self, mllp: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                 fhir_url: str, http: httpx.AsyncClient) -> None:  # fmt: skip
        self.reader, self.writer = mllp
        self.fhir_url, self.http = fhir_url, http
        self.feeds: dict[str, tuple[str, int]] = {}  # patient_id -> (feed, patient number)
        self.tally = IngestTally()
        self._week: list[Event] = []

    def serve(self, feeds: dict[str, tuple[str, int]]) -> None:
        """Take the results of these patients (pseudonym -> (feed, patient number))."""
        self.feeds = feeds
        self.tally.patients = dict(Counter(feed for feed, _ in feeds.values()))

    def takes(self, event: Event) -> bool:
        feed = self.feeds.get(event.patient_id)
        return feed is not None and event.type in _TAKEN[feed[0]]

    def add(self, event: Event) -> None:
        self._week.append(event)

    async def send_week(self) -> int:
        """Send the week's events as HL7 and FHIR; returns how many events ingest acknowledged
        having published (each message's ACK or entry status comes after Kafka's ack)."""
        week, self._week = self._week, []
        published = 0
        fhir: dict[int, list[Event]] = {}
        for event in week:
            feed, number = self.feeds[event.patient_id]
            if feed == HL7_FEED:
                published += await self._mllp(hl7_message(event, number))
            else:
                fhir.setdefault(number, []).append(event)
        if fhir:
            published += await self._fhir(fhir)
        self.tally.events += published
        return published

    async def _mllp(self, message: bytes) -> int:
        self.writer.write(b"\x0b" + message + b"\x1c\r")
        await self.writer.drain()
        ack = await asyncio.wait_for(self.reader.readuntil(b"\x1c\r"), 30)
        code = ack.split(b"MSA|", 1)[1][:2].decode() if b"MSA|" in ack else "none"
        self.tally.hl7_messages += 1
        self.tally.hl7_acks[code] += 1
        return 1 if code == "AA" else 0

    async def _fhir(self, by_patient: dict[int, list[Event]]) -> int:
        entries = []
        for number, events in sorted(by_patient.items()):
            entries.append({"resource": fhir_patient(number)})
            entries += [{"resource": fhir_resource(e, number)} for e in events]
        bundle = {"resourceType": "Bundle", "type": "batch", "entry": entries}
        response = await self.http.post(
            self.fhir_url,
            json=bundle,
            headers={"Authorization": f"Bearer {FHIR_TOKEN}",
                     "Content-Type": "application/fhir+json"},
        )  # fmt: skip
        response.raise_for_status()
        self.tally.fhir_requests += 1
        published = 0
        for entry in response.json()["entry"]:
            status, location = entry["response"]["status"], entry["response"]["location"]
            if location.startswith("Patient/"):
                continue  # the subjects, sent along: no events of their own
            self.tally.fhir_entries[status] += 1
            published += status.startswith("200")
        return published


def assign_pseudonyms(patients: list[Any], events: list[Event]) -> tuple[dict[str, tuple[str, int]],
                                                                         list[Event]]:  # fmt: skip
    """The hospital patients get, as `patient_id`, the pseudonym ingest computes from their MRN
    (their enrolment is published under it); returns them and the cohort's events renamed."""
    from ingest.config import Feed, MrnRule

    rule = Feed(name=HL7_FEED, sending_facility="DEMO LAB", mrn_namespace="DEMO",
                mrn=MrnRule(assigning_authority="DEMO"))  # fmt: skip
    feeds: dict[str, tuple[str, int]] = {}
    renamed: dict[str, str] = {}
    for number, patient in enumerate(patients):
        feed = feed_of(number, patient.events)
        if feed is None:
            continue
        pseudonym = rule.pseudonym(PSEUDONYM_KEY.encode(), "p-", mrn_of(number))
        renamed[patient.patient_id] = pseudonym
        patient.patient_id = pseudonym
        patient.events = [e.model_copy(update={"patient_id": pseudonym}) for e in patient.events]
        feeds[pseudonym] = (feed, number)
    swapped = [
        e.model_copy(update={"patient_id": renamed[e.patient_id]}) if e.patient_id in renamed else e
        for e in events
    ]
    return feeds, swapped


# ---------------------------------------------------------------------------- HL7 v2


def _dtm(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def hl7_message(event: Event, number: int) -> bytes:
    """ORU^R01 for a lab result, SIU^S12 for a booked scan."""
    control = f"{number:04d}{event.event_id.rsplit('-', 1)[-1]}{event.type[5:8].upper()}"
    kind = "SIU^S12^SIU_S12" if isinstance(event, ScanScheduled) else "ORU^R01^ORU_R01"
    segments = [
        f"MSH|^~\\&|DEMO-LIS|DEMO LAB|RW|REMISSION WATCH|{_dtm(event.recorded_at)}||{kind}|"
        f"D{control}|P|2.5.1",
        f"PID|1||{mrn_of(number)}^^^DEMO^MR||Demopatient^Number{number}",
    ]
    if isinstance(event, LabResulted):
        order, at = f"{event.order_id}-{mrn_of(number)}", _dtm(event.occurred_at)
        segments += [
            f"OBR|1||{order}|{event.loinc}^Tumour marker^LN|||{at}||||||||||||||||||F",
            f"OBX|1|NM|{event.loinc}^Tumour marker^LN|1|{event.value}|{event.unit or ''}"
            f"|||||F|||{at}",
        ]
    elif isinstance(event, ScanScheduled):
        appointment = f"{event.order_id}-{mrn_of(number)}"
        sch = ["SCH", appointment, appointment] + [""] * 23 + [event.order_id]
        segments += [
            "|".join(sch),
            f"AIS|1|A|{CPT[event.item]}^{event.item}^C4|{_dtm(event.scheduled_for)}",
        ]
    return "\r".join(segments).encode()


# ---------------------------------------------------------------------------- FHIR R4


def fhir_patient(number: int) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": f"pat-{number}",
        "meta": {"versionId": "1", "lastUpdated": "2020-12-01T00:00:00+00:00"},
        "identifier": [{
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                 "code": "MR"}]},
            "system": MRN_SYSTEM,
            "value": mrn_of(number),
        }],
    }  # fmt: skip


def fhir_resource(event: Event, number: int) -> dict[str, Any]:
    """The FHIR resource an EHR would hold for the event, dated with the event's own times."""
    subject = {"reference": f"Patient/pat-{number}"}
    base: dict[str, Any] = {
        "id": f"{number}-{event.event_id.rsplit('-', 1)[-1]}",
        "meta": {"versionId": "1", "lastUpdated": event.recorded_at.isoformat()},
    }
    if isinstance(event, LabResulted):
        return base | {
            "resourceType": "Observation",
            "status": "final",
            "basedOn": [{"reference": f"ServiceRequest/{event.order_id}"}],
            "code": {"coding": [{"system": "http://loinc.org", "code": event.loinc}]},
            "subject": subject,
            "effectiveDateTime": event.occurred_at.isoformat(),
            "valueQuantity": {"value": event.value, "unit": event.unit,
                              "system": "http://unitsofmeasure.org", "code": event.unit},
        }  # fmt: skip
    assert isinstance(event, ScanScheduled | ScanCompleted | ScanResulted)
    procedure = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": CPT[event.item]}]}
    order = [{"reference": f"ServiceRequest/{event.order_id}"}]
    if isinstance(event, ScanScheduled):
        return base | {
            "resourceType": "Appointment",
            "status": "booked",
            "serviceType": [procedure],
            "basedOn": order,
            "start": event.scheduled_for.isoformat(),
            "end": event.scheduled_for.isoformat(),
            "participant": [{"actor": subject, "status": "accepted"}],
        }
    if isinstance(event, ScanCompleted):
        return base | {
            "resourceType": "ImagingStudy",
            "status": "available",
            "subject": subject,
            "basedOn": order,
            "started": event.occurred_at.isoformat(),
            "procedureCode": [procedure],
        }
    finding = {"coding": [{"system": "urn:demo:finding", "code": FINDING_CODE[event.finding]}]}
    return base | {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "code": procedure,
        "subject": subject,
        "basedOn": order,
        "issued": event.occurred_at.isoformat(),
        "conclusionCode": [finding],
    }


# ---------------------------------------------------------------------------- the service


@contextlib.contextmanager
def _demo_keys() -> Iterator[None]:
    """The demo's keys in the environment the ingest configuration names, for this run only."""
    wanted = {"RW_DEMO_PSEUDONYM_KEY": PSEUDONYM_KEY, "RW_DEMO_QUARANTINE_KEY": QUARANTINE_KEY}
    before = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def write_config(folder: Path) -> Path:
    path = folder / "ingest.yaml"
    path.write_text(
        CONFIG.format(folder=folder, hl7=HL7_FEED, fhir=FHIR_FEED, system=MRN_SYSTEM,
                      procedures=PROCEDURES, findings=FINDINGS),
        encoding="utf-8",
    )  # fmt: skip
    return path


@asynccontextmanager
async def started(folder: Path, bootstrap: str, prefix: str, partitions: int) -> AsyncIterator[
    DemoIngest
]:  # fmt: skip
    """The ingest service (MLLP on a free port, the FHIR endpoint on another) on the demo's
    broker, and connected clients; all stopped on the way out."""
    from ingest.fhir_http import build_fhir_app
    from ingest.mllp import MllpServer
    from ingest.service import running
    from ingest.settings import IngestSettings
    from notifier.sinks import free_port

    folder.mkdir(parents=True, exist_ok=True)
    settings = IngestSettings(
        kafka_bootstrap=bootstrap, topic_prefix=prefix, partitions=partitions,
        ingest_config=write_config(folder), loglevel="warning",
    )  # fmt: skip
    with _demo_keys():
        async with running(settings) as parts:
            mllp = MllpServer(parts.intake, 1 << 20)
            host, port = await mllp.start("127.0.0.1", 0)
            http_port = free_port()
            web = _InProcessServer(uvicorn.Config(build_fhir_app(parts.fhir, FHIR_TOKEN),
                                                  host="127.0.0.1", port=http_port,
                                                  log_level="warning"))  # fmt: skip
            serving = asyncio.create_task(web.serve(), name="demo-fhir")
            connection = None
            try:
                while not web.started:
                    if serving.done():
                        serving.result()  # raises why it could not start
                    await asyncio.sleep(0.02)
                connection = await asyncio.open_connection(host, port)
                async with httpx.AsyncClient(timeout=30) as http:
                    yield DemoIngest(connection, f"http://127.0.0.1:{http_port}/fhir/{FHIR_FEED}",
                                     http)  # fmt: skip
            finally:
                if connection is not None:
                    connection[1].close()
                web.should_exit = True
                await asyncio.gather(serving, return_exceptions=True)
                await mllp.stop()


class _InProcessServer(uvicorn.Server):
    """uvicorn's server without its signal handlers: Ctrl-C and SIGTERM stay the demo's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
