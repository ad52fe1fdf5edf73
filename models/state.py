"""A patient's state as a pure fold of their events: `evolve(state, event)` and `replay(events)`.

The state keeps every event compactly in a `Journal` (sorted by occurred_at, de-duplicated by
event id) and a `View` derived from it. An event that sorts last is applied to the view
incrementally; a late event, a retraction or a correction re-derives the view from the journal,
so the result never depends on arrival order and a wrong fact leaves no trace once retracted.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from models.events import (
    CheckinAnswered,
    ClinicianOverride,
    DiseaseStatusDeclared,
    Event,
    EventCorrected,
    EventRetracted,
    LabResulted,
    PatientDeceased,
    PatientEnrolled,
    PatientTransferred,
    ResponseAssessed,
    ScanCompleted,
    ScanResulted,
    ScanScheduled,
    SurveillanceDischarged,
    TreatmentCompleted,
    TreatmentStarted,
    VisitCompleted,
)
from models.ids import digest64
from models.journal import Journal, Record
from models.view import NO_IDS, Blob, Code, Profile, View, apply_record

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class UnknownPatient(ValueError):
    """An event arrived for a patient who was never enrolled."""


class PatientState(NamedTuple):
    """Everything known about one patient. `emitted` belongs to `models.clocks.settle`.

    Two states are equal when they hold the same facts and emitted the same reminders,
    whatever order the facts arrived in.
    """

    patient_id: str
    journal: Journal = Journal()
    blobs: tuple[tuple[int, Profile | bytes], ...] = ()
    view: View = View()
    emitted: tuple[tuple[str, str, int], ...] = ()

    @property
    def event_count(self) -> int:
        return len(self.journal)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PatientState):
            return NotImplemented
        return (
            self.patient_id == other.patient_id
            and self.journal == other.journal
            and sorted(self.blobs, key=_blob_key) == sorted(other.blobs, key=_blob_key)
            and self.view == other.view
            and self.emitted == other.emitted
        )

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash((self.patient_id, self.journal))


def _blob_key(entry: tuple[int, Profile | bytes]) -> int:
    return entry[0]


def micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (the journal's time unit)."""
    return (moment - _EPOCH) // _MICROSECOND


def evolve(state: PatientState | None, event: Event) -> PatientState:
    """Apply one event. Pure; applying the same event twice equals applying it once.

    Raises `UnknownPatient` if `state` is None and the event is not an enrolment.
    """
    if state is None:
        if isinstance(event, EventCorrected) and isinstance(event.replacement, PatientEnrolled):
            pass
        elif not isinstance(event, PatientEnrolled):
            raise UnknownPatient(f"no enrolment for patient {event.patient_id!r} ({event.type})")
        state = PatientState(patient_id=event.patient_id)
    elif event.patient_id != state.patient_id:
        raise ValueError("event for another patient")
    if isinstance(event, EventCorrected):
        replacement = event.replacement
        if replacement.patient_id != state.patient_id:
            raise ValueError("a correction cannot move a fact to another patient")
        state = _record(state, event)
        return _record(state, replacement)
    return _record(state, event)


def replay(events: Iterable[Event]) -> dict[str, PatientState]:
    """Fold many patients' events, in any arrival order, into one state per patient.

    Equal to folding each patient's events with `evolve`, but builds each journal in one sort
    instead of event by event. A patient with no enrolment among `events` raises
    `UnknownPatient`.
    """
    by_patient: dict[str, list[Event]] = {}
    for event in events:
        by_patient.setdefault(event.patient_id, []).append(event)
    return {pid: _replay_patient(pid, evs) for pid, evs in by_patient.items()}


def _replay_patient(patient_id: str, events: list[Event]) -> PatientState:
    facts: list[Event] = []
    for event in events:
        facts.append(event)
        if isinstance(event, EventCorrected):
            facts.append(event.replacement)
    if not any(isinstance(e, PatientEnrolled) for e in facts):
        raise UnknownPatient(f"no enrolment for patient {patient_id!r}")
    seen: set[int] = set()
    names: dict[str, int] = {}
    records: list[Record] = []
    blobs: list[tuple[int, Profile | bytes]] = []
    live: dict[int, Blob] = {}
    for event in facts:
        digest = digest64(event.event_id)
        if digest in seen:
            continue
        seen.add(digest)
        code, name, aux, aux2, blob = _fields(event)
        ref = names.setdefault(name, len(names))
        records.append(Record(micros(event.occurred_at), digest, code, ref, aux, aux2))
        if blob is not None:
            blobs.append((digest, blob))
            live[digest] = event.assessment if isinstance(event, ResponseAssessed) else blob
    records.sort(key=_order)
    journal = Journal.from_records(records, tuple(names))
    return PatientState(patient_id, journal, tuple(blobs), _fold(records, journal.names, live))


def _order(record: Record) -> tuple[int, int]:
    return record.at, record.digest


def _record(state: PatientState, event: Event) -> PatientState:
    digest = digest64(event.event_id)
    journal = state.journal
    if journal.contains(digest):
        return state
    journal, record, blob = _reduce(journal, event, digest)
    blobs = (*state.blobs, (digest, blob)) if blob is not None else state.blobs
    journal, at_end = journal.insert(record)
    retracting = record.code in (Code.RETRACTED, Code.CORRECTED)
    if at_end and not retracting and digest not in state.view.retracted:
        live = event.assessment if isinstance(event, ResponseAssessed) else blob
        view = apply_record(state.view, record, journal.names, {digest: live})
    else:
        view = derive(journal, blobs)
    return state._replace(journal=journal, blobs=blobs, view=view)


def derive(journal: Journal, blobs: tuple[tuple[int, Profile | bytes], ...]) -> View:
    """The view from scratch: every record in time order, retracted ones skipped."""
    return _fold(list(journal), journal.names, dict(blobs))


def _fold(records: list[Record], names: tuple[str, ...], blobs: dict[int, Blob]) -> View:
    retracted = frozenset(r.aux for r in records if r.code in (Code.RETRACTED, Code.CORRECTED))
    view = View(retracted=retracted or NO_IDS)
    for record in records:
        if record.digest not in retracted:
            view = apply_record(view, record, names, blobs)
    return view


def _reduce(
    journal: Journal, event: Event, digest: int
) -> tuple[Journal, Record, Profile | bytes | None]:
    """One event as one journal record (plus a blob for variable-size facts)."""
    at = micros(event.occurred_at)
    code, name, aux, aux2, blob = _fields(event)
    journal, ref = journal.intern(name)
    return journal, Record(at, digest, code, ref, aux, aux2), blob


def _fields(event: Event) -> tuple[Code, str, int, int, Profile | bytes | None]:
    match event:
        case PatientEnrolled():
            return Code.ENROLLED, "", 0, 0, Profile.from_event(event)
        case TreatmentStarted():
            kind = f"{event.modality.value}:{event.role.value}"
            return Code.TREATMENT_STARTED, kind, digest64(event.treatment_id), 0, None
        case TreatmentCompleted():
            name = event.modality.value
            return Code.TREATMENT_COMPLETED, name, digest64(event.treatment_id), 0, None
        case ResponseAssessed():
            fields = event.assessment.model_dump(mode="json", exclude_defaults=True)
            fields["system"] = event.assessment.system  # a default, but the union's tag
            raw = json.dumps(fields, separators=(",", ":")).encode()
            return Code.ASSESSED, event.assessment.system, 0, 0, raw
        case DiseaseStatusDeclared():
            return Code.DECLARED, event.status.value, 0, 0, None
        case ScanScheduled():
            when = micros(event.scheduled_for)
            return Code.SCAN_SCHEDULED, event.item, digest64(event.order_id), when, None
        case ScanCompleted():
            return Code.SCAN_COMPLETED, event.item, digest64(event.order_id), 0, None
        case ScanResulted():
            finding = list(type(event.finding)).index(event.finding)
            return Code.SCAN_RESULTED, event.item, digest64(event.order_id), finding, None
        case VisitCompleted():
            return Code.VISIT, event.item, 0, 0, None
        case LabResulted():
            status = list(type(event.status)).index(event.status)
            return Code.LAB, event.loinc, _float_bits(event.value), status, None
        case CheckinAnswered():
            flags = int(event.self_harm) | int(event.free_text) << 1
            return Code.CHECKIN, "", -1 if event.score is None else event.score, flags, None
        case ClinicianOverride():
            return Code.OVERRIDE, event.item, *_override_value(event), None
        case PatientDeceased():
            return Code.DECEASED, "", 0, 0, None
        case PatientTransferred():
            return Code.TRANSFERRED, "", 0, 0, None
        case SurveillanceDischarged():
            return Code.DISCHARGED, "", 0, 0, None
        case EventRetracted():
            return Code.RETRACTED, "", digest64(event.target_event_id), 0, None
        case EventCorrected():
            return Code.CORRECTED, "", digest64(event.target_event_id), 0, None
    raise TypeError(f"no journal record for {type(event).__name__}")


def _override_value(event: ClinicianOverride) -> tuple[int, int]:
    action = list(type(event.action)).index(event.action)
    day = event.until or event.done_on
    value = day.toordinal() if day else (event.every_months or 0)
    return action, value


def _float_bits(value: float | None) -> int:
    if value is None:
        return 0
    return int(struct.unpack("<Q", struct.pack("<d", value))[0])


def dump_state(state: PatientState) -> bytes:
    """Serialise a state for a table or a snapshot topic (the view is derived, not stored)."""
    blobs = [
        [str(digest), "a", blob.decode()]
        if isinstance(blob, bytes)
        else [str(digest), "p", _profile_dict(blob)]
        for digest, blob in state.blobs
    ]
    body = {
        "v": 1,
        "patient_id": state.patient_id,
        "journal": base64.b64encode(state.journal.data).decode(),
        "names": list(state.journal.names),
        "blobs": blobs,
        "emitted": [list(entry) for entry in state.emitted],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def load_state(data: bytes) -> PatientState:
    """The inverse of `dump_state`; the view is re-derived from the journal."""
    body = json.loads(data)
    if body.get("v") != 1:
        raise ValueError(f"unknown state format {body.get('v')!r}")
    journal = Journal(base64.b64decode(body["journal"]), tuple(body["names"]))
    blobs: tuple[tuple[int, Profile | bytes], ...] = tuple(
        (int(digest), blob.encode() if kind == "a" else _profile_from(blob))
        for digest, kind, blob in body["blobs"]
    )
    emitted = tuple((str(rid), str(item), int(due)) for rid, item, due in body["emitted"])
    return PatientState(body["patient_id"], journal, blobs, derive(journal, blobs), emitted)


def _profile_dict(profile: Profile) -> dict[str, object]:
    fields = {name: getattr(profile, name) for name in Profile.__slots__}
    fields["flags"] = sorted(profile.flags)
    return fields


def _profile_from(raw: dict[str, object]) -> Profile:
    values: dict[str, Any] = dict(raw)
    values["flags"] = frozenset(values["flags"])
    return Profile(**values)
