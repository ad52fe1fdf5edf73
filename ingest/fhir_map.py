"""FHIR R4 resources to Remission Watch events (docs/ingest.md has the table).

Ids follow docs/wire-format.md: `fhir:<feed>:<resourceType>/<id>` for the resource's fact; an
amended or corrected version is an `event.corrected` `<id>:C:v<versionId>` whose replacement is
`<id>@v<versionId>`, chained like HL7 corrections (ingest.chains).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from ingest.chains import correction_target, latest
from ingest.config import Feed
from ingest.fhir_models import (
    LOINC,
    SNOMED,
    Appointment,
    DiagnosticReport,
    ImagingStudy,
    Observation,
    Patient,
    Reference,
    Resource,
)
from ingest.ledger import Ledger
from models.events import (
    DeclaredStatus,
    DiseaseStatusDeclared,
    Event,
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

CANCER_DISEASE_STATUS = "97509-4"  # mCODE CancerDiseaseStatus (LOINC)
# mCODE ConditionStatusTrendVS (SNOMED CT), only the codes that say one of our statuses;
# 268910001 "Patient's condition improved" says no remission depth and is left out.
DISEASE_STATUS = {
    "260415000": DeclaredStatus.NO_EVIDENCE_OF_DISEASE,  # Not detected
    "359746009": DeclaredStatus.STABLE,  # Patient's condition stable
    "271299001": DeclaredStatus.PROGRESSION,  # Patient's condition worsened
    "709137006": DeclaredStatus.UNDETERMINED,  # Patient condition undetermined
}
_FINAL = {"final": ResultStatus.FINAL, "cancelled": ResultStatus.CANNOT_OBTAIN}
_AMENDED = {"amended", "corrected"}
_SEVERITY = list(ScanFinding)


class ResourceError(ValueError):
    """A resource this feed cannot take; the reason names no patient data."""


@dataclass
class Mapped:
    events: list[tuple[str, Event]] = field(default_factory=list)  # (routing type, event)
    ignored: int = 0


@dataclass
class FhirContext:
    feed: Feed
    key: bytes
    prefix: str
    ledger: Ledger
    known_lab: Callable[[str], bool] | None = None  # LOINC codes surveillance uses

    def ref(self, resource: Resource) -> str:
        return f"{self.feed.source}:{resource.resourceType}/{resource.id}"

    def version(self, resource: Resource) -> str:
        meta = resource.meta
        return meta.versionId or (meta.lastUpdated.isoformat() if meta.lastUpdated else "")

    def patient(self, subject: Reference | None) -> str:
        """The pseudonym of a subject: from its MRN identifier, or from a Patient seen before."""
        if subject is not None and subject.identifier is not None:
            mrn = self.mrn([subject.identifier])
            if mrn:
                return self.feed.pseudonym(self.key, self.prefix, mrn)
        reference = subject.reference if subject else None
        known = self.ledger.get("fhir-patient", f"{self.feed.name}:{reference}")
        if not reference or known is None:
            raise ResourceError(
                f"subject {reference or '(none)'} is not known: send its Patient (with the MRN)"
                " first or in the same Bundle"
            )
        return known

    def mrn(self, identifiers: list) -> str | None:  # type: ignore[type-arg]
        rule = self.feed.mrn
        for ident in identifiers:
            if not ident.value or (rule.type and not ident.is_type(rule.type)):
                continue
            if rule.system is None or ident.system == rule.system:
                return str(ident.value)
        return None

    def when(self, value: datetime | date | None, fallback: datetime) -> datetime:
        if value is None:
            return fallback
        if not isinstance(value, datetime):
            return datetime.combine(value, time(), self.feed.zone)
        return value if value.tzinfo else value.replace(tzinfo=self.feed.zone)

    def envelope(
        self, event_id: str, patient: str, occurred: datetime, recorded: datetime
    ) -> dict[str, object]:
        return {
            "event_id": event_id,
            "patient_id": patient,
            "occurred_at": occurred,
            "recorded_at": recorded,
            "source": self.feed.source,
        }


def _id_of(reference: Reference) -> str | None:
    text = reference.reference or ""
    return text.rsplit("/", 1)[-1] or None


def _order(resource: Resource, based_on: list[Reference], identifiers: list) -> str:  # type: ignore[type-arg]
    for ref in based_on:
        if ref.reference and ref.reference.startswith("ServiceRequest/"):
            return str(_id_of(ref))
    accession = next((i.value for i in identifiers if i.is_type("ACSN") and i.value), None)
    return str(accession or resource.id)


def map_resource(ctx: FhirContext, resource: Resource) -> Mapped:
    recorded = resource.meta.lastUpdated
    out = Mapped()
    if isinstance(resource, Patient):
        _patient(ctx, resource, out)
    elif isinstance(resource, Observation):
        _observation(ctx, resource, recorded or resource.issued, out)
    elif isinstance(resource, DiagnosticReport):
        _report(ctx, resource, recorded or resource.issued, out)
    elif isinstance(resource, Appointment):
        _appointment(ctx, resource, recorded, out)
    elif isinstance(resource, ImagingStudy):
        _study(ctx, resource, recorded or resource.started, out)
    else:
        out.ignored += 1
    return out


def _require(value: datetime | None, what: str) -> datetime:
    if value is None:
        raise ResourceError(f"{what} has no meta.lastUpdated (or issued/start) to date it")
    return value


def _patient(ctx: FhirContext, p: Patient, out: Mapped) -> None:
    mrn = ctx.mrn(p.identifier)
    if mrn is None:
        raise ResourceError(f"Patient/{p.id} has no identifier of type {ctx.feed.mrn.type}")
    pseudonym = ctx.feed.pseudonym(ctx.key, ctx.prefix, mrn)
    ctx.ledger.put("fhir-patient", f"{ctx.feed.name}:Patient/{p.id}", pseudonym)
    if p.deceasedBoolean or p.deceasedDateTime:
        recorded = _require(p.meta.lastUpdated, "Patient")
        occurred = ctx.when(p.deceasedDateTime, recorded)
        envelope = ctx.envelope(f"{ctx.ref(p)}:deceased", pseudonym, occurred, recorded)
        out.events.append(("patient.deceased", PatientDeceased(**envelope)))


def _observation(ctx: FhirContext, o: Observation, recorded: datetime | None, out: Mapped) -> None:
    recorded = _require(recorded, "Observation")
    base, patient = ctx.ref(o), ctx.patient(o.subject)
    occurred = ctx.when(o.effectiveDateTime, recorded)
    if o.code.code(LOINC) == CANCER_DISEASE_STATUS:
        concept = o.valueCodeableConcept
        status = DISEASE_STATUS.get((concept.code(SNOMED) if concept else None) or "")
        if o.status not in ("final", "amended", "corrected") or status is None:
            out.ignored += 1
            return
        envelope = ctx.envelope(base, patient, occurred, recorded)
        out.events.append(("status.declared", DiseaseStatusDeclared(**envelope, status=status)))
        return
    loinc = o.code.code(LOINC) or next(
        (ctx.feed.loinc[c] for c in o.code.codes() if c in ctx.feed.loinc), None
    )
    if loinc and not ctx.feed.wants_lab(loinc, ctx.known_lab):
        out.ignored += 1  # no protocol uses it: it stays out of Kafka (minimum necessary)
        return
    seen_before = ctx.ledger.get("fhir-version", base) is not None
    if loinc is None or not (
        o.status in _FINAL or o.status in _AMENDED or o.status == "entered-in-error"
    ):
        out.ignored += 1
        return
    if o.status == "entered-in-error":
        if not seen_before:
            out.ignored += 1  # nothing of it was ever sent
            return
        envelope = ctx.envelope(f"{base}:retracted", patient, recorded, recorded)
        retraction = EventRetracted(
            **envelope,
            target_event_id=latest(ctx.ledger, base),
            reason="FHIR status entered-in-error",
        )
        out.events.append(("lab.resulted", retraction))
        return
    quantity = o.valueQuantity
    fields: dict[str, object] = {
        "order_id": _order(o, o.basedOn, []),
        "loinc": loinc,
        "value": quantity.value if quantity and o.status != "cancelled" else None,
        "comparator": quantity.comparator if quantity else None,
        "unit": ((quantity.code or quantity.unit) if quantity else None),
        "performing_lab": next((p.display[:100] for p in o.performer if p.display), None),
        "method": (o.method.text[:100] if o.method and o.method.text else None),
    }
    if o.status in _AMENDED and seen_before:
        stamp = recorded.astimezone(UTC)
        version = f"v{o.meta.versionId}" if o.meta.versionId else f"v{stamp:%Y%m%dT%H%M%S}"
        target = correction_target(ctx.ledger, base, recorded.astimezone(UTC).isoformat(), version)
        if target is None:
            out.ignored += 1
            return
        replacement = LabResulted(
            **ctx.envelope(f"{base}@{version}", patient, occurred, recorded),
            **fields,
            status=ResultStatus.CORRECTED,
        )
        envelope = ctx.envelope(f"{base}:C:{version}", patient, recorded, recorded)
        out.events.append(
            (
                "lab.resulted",
                EventCorrected(**envelope, target_event_id=target, replacement=replacement),
            )
        )
        return
    status = _FINAL.get(o.status, ResultStatus.CORRECTED)
    lab = LabResulted(**ctx.envelope(base, patient, occurred, recorded), **fields, status=status)
    out.events.append(("lab.resulted", lab))


def _item(ctx: FhirContext, codes: list[str], order: str) -> str | None:
    item = next((ctx.feed.procedures[c] for c in codes if c in ctx.feed.procedures), None)
    key = f"{ctx.feed.name}:{order}"
    if item is not None:
        ctx.ledger.put("fhir-order-item", key, item)
        return item
    return ctx.ledger.get("fhir-order-item", key)


def _report(ctx: FhirContext, r: DiagnosticReport, recorded: datetime | None, out: Mapped) -> None:
    order = _order(r, r.basedOn, r.identifier)
    item = _item(ctx, r.code.codes(), order)
    if r.status == "entered-in-error":
        _report_in_error(ctx, r, recorded, out)
        return
    if item is None or r.status not in ("final", "amended", "corrected"):
        out.ignored += 1
        return
    recorded = _require(recorded, "DiagnosticReport")
    base, patient = ctx.ref(r), ctx.patient(r.subject)
    findings = [
        ctx.feed.findings[c]
        for cc in r.conclusionCode
        for c in cc.codes()
        if c in ctx.feed.findings
    ]
    if not findings:
        out.ignored += 1  # a narrative conclusion only: not read (docs/ingest.md)
        return
    finding = max(findings, key=_SEVERITY.index)
    occurred = r.issued or recorded
    envelope = ctx.envelope(f"{base}:resulted", patient, occurred, recorded)
    result = ScanResulted(**envelope, order_id=order, item=item, finding=finding)
    out.events.append(("scan.resulted", result))
    ctx.ledger.put("fhir-sent", result.event_id, "1")  # an entered-in-error retracts it


def _report_in_error(
    ctx: FhirContext, r: DiagnosticReport, recorded: datetime | None, out: Mapped
) -> None:
    """A report sent in error: its scan.resulted (when one was sent from here) is retracted."""
    base = ctx.ref(r)
    fact = f"{base}:resulted"
    if ctx.ledger.get("fhir-sent", fact) is None:
        out.ignored += 1  # no result of it was ever sent (or a narrative one, not read)
        return
    recorded = _require(recorded, "DiagnosticReport")
    envelope = ctx.envelope(f"{base}:retracted", ctx.patient(r.subject), recorded, recorded)
    retraction = EventRetracted(**envelope, target_event_id=latest(ctx.ledger, fact),
                                reason="FHIR status entered-in-error")  # fmt: skip
    out.events.append(("scan.resulted", retraction))


def _appointment(ctx: FhirContext, a: Appointment, recorded: datetime | None, out: Mapped) -> None:
    order = _order(a, a.basedOn, [])
    codes = [c for concept in a.serviceType for c in concept.codes()]
    item = _item(ctx, codes, order)
    if item is None or a.status not in ("booked", "cancelled"):
        out.ignored += 1
        return
    recorded = _require(recorded, "Appointment")
    actors = [p.actor for p in a.participant if p.actor is not None]
    subject = next((r for r in actors if (r.reference or "").startswith("Patient/")), None)
    patient, base = ctx.patient(subject), ctx.ref(a)
    if a.status == "cancelled":
        envelope = ctx.envelope(f"{base}:cancelled", patient, recorded, recorded)
        out.events.append(("scan.cancelled", ScanCancelled(**envelope, order_id=order, item=item)))
        return
    if a.start is None:
        raise ResourceError(f"Appointment/{a.id} is booked without a start")
    event_id = f"{base}:at:{a.start.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    envelope = ctx.envelope(event_id, patient, recorded, recorded)
    out.events.append(
        (
            "scan.scheduled",
            ScanScheduled(**envelope, order_id=order, item=item, scheduled_for=a.start),
        )
    )


def _study(ctx: FhirContext, s: ImagingStudy, recorded: datetime | None, out: Mapped) -> None:
    order = _order(s, s.basedOn, s.identifier)
    item = _item(ctx, [c for concept in s.procedureCode for c in concept.codes()], order)
    if item is None or s.status != "available":
        out.ignored += 1
        return
    recorded = _require(recorded, "ImagingStudy")
    occurred = s.started or recorded
    envelope = ctx.envelope(f"{ctx.ref(s)}:completed", ctx.patient(s.subject), occurred, recorded)
    out.events.append(("scan.completed", ScanCompleted(**envelope, order_id=order, item=item)))
