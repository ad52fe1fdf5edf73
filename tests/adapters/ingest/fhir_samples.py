"""FHIR R4 resources modelled on the R4 specification's examples and mCODE (invented people)."""

from __future__ import annotations

import copy
from typing import Any

V2 = "http://terminology.hl7.org/CodeSystem/v2-0203"
MRN_SYSTEM = "urn:oid:2.16.840.1.113883.3.9999.1"

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "pat-7001",
    "meta": {"versionId": "3", "lastUpdated": "2026-12-01T10:00:00-05:00"},
    "identifier": [
        {
            "use": "usual",
            "type": {"coding": [{"system": V2, "code": "MR"}]},
            "system": MRN_SYSTEM,
            "value": "MRN0003003",
        },
        {
            "type": {"coding": [{"system": V2, "code": "SS"}]},
            "system": "http://hl7.org/fhir/sid/us-ssn",
            "value": "000-00-0000",
        },
    ],
    "name": [{"use": "official", "family": "Testpatient", "given": ["Ana", "María"]}],
    "telecom": [{"system": "phone", "value": "+1-555-0100-003", "use": "mobile"}],
    "gender": "female",
    "birthDate": "1956-02-11",
}

PSA: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "obs-psa-8842",
    "meta": {
        "versionId": "1",
        "lastUpdated": "2027-02-03T14:02:00-06:00",
        "profile": ["http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-tumor-marker-test"],
    },
    "basedOn": [{"reference": "ServiceRequest/sr-700101"}],
    "status": "final",
    "category": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "laboratory",
                }
            ]
        }
    ],
    "code": {
        "coding": [
            {"system": "http://loinc.org", "code": "2857-1"},
            {"system": "urn:oid:2.16.840.1.113883.3.9999.9", "code": "PSA"},
        ]
    },
    "subject": {"reference": "Patient/pat-7001", "display": "Ana Testpatient"},
    "effectiveDateTime": "2027-02-03T08:15:00-06:00",
    "issued": "2027-02-03T14:02:00-06:00",
    "performer": [{"reference": "Organization/lab", "display": "Century Hospital"}],
    "valueQuantity": {
        "value": 0.04,
        "unit": "ng/mL",
        "system": "http://unitsofmeasure.org",
        "code": "ng/mL",
    },
    "method": {"text": "Chemiluminescent immunoassay"},
}

CEA_IN_ERROR: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "obs-cea-8843",
    "meta": {"versionId": "2", "lastUpdated": "2027-02-06T10:00:00-06:00"},
    "status": "entered-in-error",
    "code": {"coding": [{"system": "http://loinc.org", "code": "2039-6"}]},
    "subject": {"reference": "Patient/pat-7001"},
    "effectiveDateTime": "2027-02-03T08:15:00-06:00",
    "valueQuantity": {
        "value": 6.8,
        "unit": "ng/mL",
        "system": "http://unitsofmeasure.org",
        "code": "ng/mL",
    },
}

DISEASE_STATUS: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "cds-99120",
    "meta": {
        "versionId": "1",
        "lastUpdated": "2027-03-01T15:02:00-05:00",
        "profile": ["http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-cancer-disease-status"],
    },
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "97509-4"}]},
    "subject": {"reference": "Patient/pat-7001"},
    "effectiveDateTime": "2027-03-01T15:00:00-05:00",
    "valueCodeableConcept": {
        "coding": [
            {
                "system": "http://snomed.info/sct",
                "code": "260415000",
                "display": "Not detected (qualifier)",
            }
        ]
    },
}

APPOINTMENT: dict[str, Any] = {
    "resourceType": "Appointment",
    "id": "appt-5512",
    "meta": {"versionId": "1", "lastUpdated": "2026-12-01T10:00:00-05:00"},
    "status": "booked",
    "serviceType": [
        {"coding": [{"system": "http://loinc.org", "code": "24627-2", "display": "Chest CT"}]}
    ],
    "basedOn": [{"reference": "ServiceRequest/di"}],
    "start": "2027-01-14T13:30:00-05:00",
    "end": "2027-01-14T14:00:00-05:00",
    "participant": [
        {"actor": {"reference": "Patient/pat-7001"}, "required": "required", "status": "accepted"},
        {"actor": {"reference": "Location/ct-1"}, "required": "required", "status": "accepted"},
    ],
}

STUDY: dict[str, Any] = {
    "resourceType": "ImagingStudy",
    "id": "is-8001",
    "meta": {"lastUpdated": "2027-01-14T14:10:00-05:00"},
    "identifier": [{"type": {"coding": [{"system": V2, "code": "ACSN"}]}, "value": "ACC-5512"}],
    "status": "available",
    "modality": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"}],
    "subject": {"reference": "Patient/pat-7001"},
    "started": "2027-01-14T13:55:00-05:00",
    "basedOn": [{"reference": "ServiceRequest/di"}],
}

REPORT: dict[str, Any] = {
    "resourceType": "DiagnosticReport",
    "id": "dr-8001",
    "meta": {"versionId": "1", "lastUpdated": "2027-01-16T09:41:00-05:00"},
    "identifier": [{"type": {"coding": [{"system": V2, "code": "ACSN"}]}, "value": "ACC-5512"}],
    "basedOn": [{"reference": "ServiceRequest/di"}],
    "status": "final",
    "category": [
        {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD"}]}
    ],
    "code": {"coding": [{"system": "http://loinc.org", "code": "24627-2"}]},
    "subject": {"reference": "Patient/pat-7001"},
    "effectiveDateTime": "2027-01-14T13:55:00-05:00",
    "issued": "2027-01-16T09:40:00-05:00",
    "conclusion": "No evidence of recurrent disease.",
}

CONFIG_FEED = """
  - name: EPIC
    kind: fhir
    fhir_base: https://fhir.example.org/r4
    mrn: {type: MR, system: "urn:oid:2.16.840.1.113883.3.9999.1"}
    mrn_namespace: CANCERCTR
    time_zone: America/Chicago
    procedures: {"24627-2": ct_chest}
    findings: {"260415000": no_evidence_of_disease, "363346000": suspicious}
    poll_overlap_seconds: 600
"""


def version(resource: dict[str, Any], number: int, stamp: str, **changes: Any) -> dict[str, Any]:
    new = copy.deepcopy(resource)
    new["meta"] = {**new["meta"], "versionId": str(number), "lastUpdated": stamp}
    new.update(changes)
    return new


def bundle(kind: str, *resources: dict[str, Any]) -> dict[str, Any]:
    entries = [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
        for r in resources
    ]
    return {"resourceType": "Bundle", "type": kind, "entry": entries}
