"""The few FHIR R4 fields ingest reads, as small pydantic models (everything else is ignored).

Tests check every fixture against fhir.resources' R4B models too, so these stay true to R4.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"


class _Read(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Coding(_Read):
    system: str | None = None
    code: str | None = None


class CodeableConcept(_Read):
    coding: list[Coding] = []
    text: str | None = None

    def code(self, system: str) -> str | None:
        return next((c.code for c in self.coding if c.system == system and c.code), None)

    def codes(self) -> list[str]:
        return [c.code for c in self.coding if c.code]


class Identifier(_Read):
    type: CodeableConcept | None = None
    system: str | None = None
    value: str | None = None

    def is_type(self, code: str) -> bool:
        return self.type is not None and code in self.type.codes()


class Reference(_Read):
    reference: str | None = None
    identifier: Identifier | None = None
    display: str | None = None


class Meta(_Read):
    versionId: str | None = None
    lastUpdated: AwareDatetime | None = None
    profile: list[str] = []


class Quantity(_Read):
    value: float | None = None
    comparator: Literal["<", "<=", ">=", ">"] | None = None
    unit: str | None = None
    code: str | None = None


class Resource(_Read):
    resourceType: str
    id: str
    meta: Meta = Meta()


class Observation(Resource):
    status: str
    code: CodeableConcept
    subject: Reference | None = None
    basedOn: list[Reference] = []
    effectiveDateTime: datetime | date | None = None
    issued: AwareDatetime | None = None
    valueQuantity: Quantity | None = None
    valueCodeableConcept: CodeableConcept | None = None
    performer: list[Reference] = []
    method: CodeableConcept | None = None


class DiagnosticReport(Resource):
    status: str
    code: CodeableConcept
    category: list[CodeableConcept] = []
    subject: Reference | None = None
    basedOn: list[Reference] = []
    identifier: list[Identifier] = []
    effectiveDateTime: datetime | date | None = None
    issued: AwareDatetime | None = None
    conclusionCode: list[CodeableConcept] = []


class Participant(_Read):
    actor: Reference | None = None


class Appointment(Resource):
    status: str
    serviceType: list[CodeableConcept] = []
    basedOn: list[Reference] = []
    start: AwareDatetime | None = None
    participant: list[Participant] = []


class ImagingStudy(Resource):
    status: str
    subject: Reference
    basedOn: list[Reference] = []
    identifier: list[Identifier] = []
    started: AwareDatetime | None = None
    procedureCode: list[CodeableConcept] = []


class Patient(Resource):
    identifier: list[Identifier] = []
    deceasedBoolean: bool | None = None
    deceasedDateTime: datetime | date | None = None


class Bundle(Resource):
    id: str = ""
    type: str
    entry: list[Any] = []  # each read alone: one broken entry does not refuse the others


MODELS: dict[str, type[Resource]] = {
    "Observation": Observation,
    "DiagnosticReport": DiagnosticReport,
    "Appointment": Appointment,
    "ImagingStudy": ImagingStudy,
    "Patient": Patient,
}
