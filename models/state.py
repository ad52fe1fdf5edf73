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
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import chain, repeat
from typing import Any, NamedTuple

from models.criteria import CriteriaMemory, Evaluation, evaluate
from models.events import (
    CheckinAnswered,
    ClinicianOverride,
    DiseaseStatusDeclared,
    Event,
    EventCorrected,
    EventRetracted,
    LabResulted,
    OverrideAction,
    PatientDeceased,
    PatientEnrolled,
    PatientTransferred,
    ResponseAssessed,
    ResultStatus,
    ScanCancelled,
    ScanCompleted,
    ScanFinding,
    ScanResulted,
    ScanScheduled,
    SurveillanceDischarged,
    TreatmentCompleted,
    TreatmentStarted,
    VisitCompleted,
)
from models.ids import digest64
from models.journal import Journal, Record
from models.labs import comparator_index
from models.view import (
    LAB_COMPARATOR_SHIFT,
    NO_IDS,
    STEPS,
    Blob,
    Code,
    Profile,
    View,
    apply_record,
    as_assessment,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_EPOCH_DAY = _EPOCH.toordinal()


class UnknownPatient(ValueError):
    """An event arrived for a patient who was never enrolled."""


class PatientState(NamedTuple):
    """Everything known about one patient. `emitted` belongs to `models.clocks.settle`.

    Two states are equal when they hold the same facts and emitted the same reminders,
    whatever order the facts arrived in.
    """

    patient_id: str
    journal: Journal = Journal()
    blobs: tuple[Profile | bytes, ...] = ()  # payloads; a record's `aux` is its index here
    view: View = View()
    emitted: tuple[tuple[str, str, int, int], ...] = ()  # see models.clocks.settle

    @property
    def event_count(self) -> int:
        return len(self.journal)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PatientState):
            return NotImplemented
        return (
            self.patient_id == other.patient_id
            and self.facts() == other.facts()
            and self.view == other.view
            and self.emitted == other.emitted
        )

    def facts(self) -> tuple[tuple[object, ...], ...]:
        """The journal with names and payloads resolved: equal for equal sets of events."""
        return tuple(
            (
                r.at,
                r.code,
                r.digest,
                self.journal.names[r.ref],
                self.blobs[r.aux] if r.code in _WITH_BLOB else r.aux,
                r.aux2,
            )
            for r in self.journal
        )

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash((self.patient_id, len(self.journal)))


_WITH_BLOB = frozenset({Code.ENROLLED, Code.ASSESSED})


def epoch_seconds(moment: datetime) -> int:
    """Whole seconds since the Unix epoch of an aware datetime: the journal's time unit.

    Events within one second are ordered by kind, then by event id (see journal.sort_key)."""
    # Equal to `(moment - _EPOCH) // _SECOND` in two thirds of the time (this runs for every
    # event): the offset straight from the tzinfo, the seconds from the fields, in small ints
    # until the end. Naive datetimes, offsets with microseconds and invalid offsets take the
    # long way, which raises or handles them as before.
    zone = moment.tzinfo
    offset = None if zone is None else zone.utcoffset(moment)
    if type(offset) is timedelta and not offset.microseconds:
        shift = offset.days * 86_400 + offset.seconds
        if -86_400 < shift < 86_400:
            days = moment.toordinal() - _EPOCH_DAY
            seconds = moment.hour * 3_600 + moment.minute * 60 + moment.second - shift
            return days * 86_400 + seconds
    return (moment - _EPOCH) // _SECOND


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
        problem = correction_problem(event) or _kind_problem(state.journal, event)
        if problem:
            raise ValueError(problem)
        state = _record(state, event)
        return _record(state, event.replacement, replacement_digest(event))
    return _record(state, event)


def correction_problem(event: EventCorrected | EventRetracted) -> str | None:
    """Why a correction or retraction cannot be understood, naming the rule; None if it can.

    Rules (docs/wire-format.md, "Corrections and retractions"): a correction never moves a
    fact to another patient, and nothing corrects or retracts itself.
    """
    if event.target_event_id == event.event_id:
        return f"{event.type} targets itself (target_event_id is its own event_id)"
    if isinstance(event, EventCorrected) and event.replacement.patient_id != event.patient_id:
        return (
            "event.corrected: the replacement is another patient's (a correction cannot move "
            "a fact to another patient: retract it and send the fact for the right one)"
        )
    return None


def _kind_problem(journal: Journal, correction: EventCorrected) -> str | None:
    """Why `correction` cannot replace its target in `journal`: its replacement is another
    type of event than the target (than the target's replacement, if the target is itself a
    correction). None if it is the same, or the target has not arrived."""
    target = journal.find(digest64(correction.target_event_id))
    if target is None:
        return None
    code = target.code
    if code == _CORRECTED:
        name = journal.names[target.ref]
        replaced = journal.find(int(name)) if name else None
        if replaced is None:
            return None
        code = replaced.code
    mine = _REDUCERS[type(correction.replacement)][0]
    return None if mine == code else _kind_message(mine, code)


def _kind_message(replacement: int, target: int) -> str:
    return (
        f"event.corrected: the replacement is a {_TYPE_NAMES[replacement]}, its target a "
        f"{_TYPE_NAMES[target]} (a correction replaces a fact with one of the same type as "
        "its target: retract the target and send the new fact on its own)"
    )


def _wrong_kinds(records: list[Record], names: tuple[str, ...]) -> dict[int, str]:
    """The corrections among `records` whose replacement is another type of event than their
    target (see `_kind_problem`), with why; those whose target is absent are not judged."""
    code_of: dict[int, int] = {}
    replacement_of: dict[int, int] = {}
    target_of: dict[int, int] = {}
    for r in records:
        code_of[r.digest] = r.code
        if r.code == _CORRECTED and names[r.ref]:
            replacement_of[r.digest] = int(names[r.ref])
            target_of[r.digest] = r.aux
    wrong: dict[int, str] = {}
    for correction, replacement in replacement_of.items():
        target = target_of[correction]
        code = code_of.get(target)
        if code == _CORRECTED:
            code = code_of.get(replacement_of.get(target, 0))
        mine = code_of.get(replacement)
        if code is not None and mine is not None and code != mine:
            wrong[correction] = _kind_message(mine, code)
    return wrong


def replacement_digest(correction: EventCorrected) -> int:
    """The journal identity of a correction's replacement.

    Its own `event_id`, unless that is the target's (an HL7 OBX-11 "C" mapper keeps the
    observation's id, OBR-3 + OBX-3 + OBX-4) or the correction's own: then an identity
    derived from the correction's id, so that the replacement is a fact of its own and not
    a duplicate of the fact it replaces (or of the correction).
    """
    own = correction.replacement.event_id
    if own in (correction.target_event_id, correction.event_id):
        return digest64(f"{correction.event_id}#replacement")
    return digest64(own)


def fold_order(event: Event) -> tuple[bool, int, int]:
    """Sort key for folding a batch of one patient's events with `evolve`.

    Enrolments first (nothing folds before one), then in journal order (the second they
    occurred, then their record kind): each event then lands at the journal's end and is
    applied incrementally, where one folded before an event it follows in the journal makes
    `evolve` re-derive the whole view. Any order gives the same state; this one never
    refuses an event that its batch enrols, and re-derives least.
    """
    enrols = isinstance(event, PatientEnrolled) or (
        isinstance(event, EventCorrected) and isinstance(event.replacement, PatientEnrolled)
    )
    return (not enrols, epoch_seconds(event.occurred_at), _REDUCERS[type(event)][0])


def replay(events: Iterable[Event]) -> dict[str, PatientState]:
    """Fold many patients' events, in any arrival order, into one state per patient.

    Equal to folding each patient's events with `evolve`, but builds each journal in one sort
    instead of event by event. A patient with no enrolment among `events` raises
    `UnknownPatient`.
    """
    by_patient: dict[str, list[Event]] = {}
    for event in events:
        group = by_patient.get(event.patient_id)
        if group is None:
            by_patient[event.patient_id] = [event]
        else:
            group.append(event)
    return {pid: _replay_patient(pid, evs) for pid, evs in by_patient.items()}


def _replay_patient(patient_id: str, events: list[Event]) -> PatientState:
    replacements: list[tuple[Event, int]] = []  # a correction's replacement: a fact of its own
    seen: set[int] = set()
    names: dict[str, int] = {}
    rows: list[tuple[int, int, int, int, int, int]] = []
    blobs: list[Profile | bytes] = []
    live: list[Blob] = []
    retracting = False
    ids = _IdDigests()
    # Local names: this loop is the hot path.
    reducers, digest_of, seconds, add_row = _REDUCERS, digest64, epoch_seconds, rows.append
    arrived = zip(events, repeat(None))
    for event, known in chain(arrived, replacements):  # replacements appended while iterating
        digest = digest_of(event.event_id) if known is None else known
        if digest in seen:
            continue
        seen.add(digest)
        code, reduce = reducers[type(event)]
        name, aux, aux2, blob = reduce(event, ids)
        if code >= _RETRACTED:  # RETRACTED or CORRECTED, the last two codes
            retracting = True
            if code == _CORRECTED:
                correction: EventCorrected = event  # type: ignore[assignment]
                replacements.append((correction.replacement, replacement_digest(correction)))
        ref = names.setdefault(name, len(names))
        if blob is not None:
            aux = len(blobs)
            blobs.append(blob)
            live.append(event.assessment if isinstance(event, ResponseAssessed) else blob)
        add_row((seconds(event.occurred_at), code, digest, ref, aux, aux2))
    if not any(isinstance(blob, Profile) for blob in blobs):  # only an enrolment has a Profile
        raise UnknownPatient(f"no enrolment for patient {patient_id!r}")
    rows.sort()  # tuples in Record field order compare in journal order (see sort_key)
    records = list(map(_as_record, repeat(Record), rows))
    journal = Journal.from_records(records, tuple(names))
    if retracting:
        wrong = _wrong_kinds(records, journal.names)
        if wrong:
            raise ValueError(next(iter(wrong.values())))
    voided = _retracted(records, journal.names) if retracting else NO_IDS
    view = _fold(records, journal.names, live, voided)
    return PatientState(patient_id, journal, tuple(blobs), view)


_as_record = tuple.__new__  # Record._make without its length check: the rows are built above
_RETRACTED, _CORRECTED = int(Code.RETRACTED), int(Code.CORRECTED)  # an enum member lookup is slow


def _record(state: PatientState, event: Event, digest: int | None = None) -> PatientState:
    digest = digest64(event.event_id) if digest is None else digest
    journal = state.journal
    if journal.contains(digest):
        return state
    journal, record, blob = _reduce(journal, event, digest, len(state.blobs))
    blobs = (*state.blobs, blob) if blob is not None else state.blobs
    journal, at_end = journal.insert(record)
    retracting = record.code in (Code.RETRACTED, Code.CORRECTED)
    if at_end and not retracting and digest not in state.view.retracted:
        live = event.assessment if isinstance(event, ResponseAssessed) else blob
        view = apply_record(state.view, record, journal.names, {record.aux: live})
    else:
        view = derive(journal, blobs)
    return state._replace(journal=journal, blobs=blobs, view=view)


def derive(journal: Journal, blobs: tuple[Profile | bytes, ...]) -> View:
    """The view from scratch: every record in time order, retracted ones skipped."""
    records = list(journal)
    return _fold(records, journal.names, blobs, _retracted(records, journal.names))


def _retracted(records: list[Record], names: tuple[str, ...]) -> frozenset[int]:
    """The digests of the events that `records` void: the targets of every retraction and
    correction in effect; the replacement of every correction but the latest in effect of the
    same target (a correction of a correction that kept the observation's id); the
    replacement of a voided correction. A correction's record names its replacement's digest.

    A retraction or correction is in effect unless a retraction in effect retracts it (so
    retracting a correction restores the fact it replaced, and retracting that retraction
    brings the correction back) or, for a correction, its replacement is another type of
    event than its target (refused when it comes; this keeps one folded before its target
    from voiding anything)."""
    retracting = [r for r in records if r.code in _RETRACTING]
    if not retracting:
        return NO_IDS
    retractions_of: dict[int, list[int]] = {}  # digest -> the retractions that target it
    for r in retracting:
        if r.code == _RETRACTED:
            retractions_of.setdefault(r.aux, []).append(r.digest)
    void_ones = (
        set(_wrong_kinds(records, names))
        if any(r.code == _CORRECTED for r in retracting)
        else set()
    )
    verdict: dict[int, bool] = {}

    def undone(digest: int) -> bool:
        """True if a retraction in effect retracts `digest` (a cycle counts as in effect)."""
        known = verdict.get(digest)
        if known is not None:
            return known
        verdict[digest] = False  # while deciding: a cycle of retractions stays in effect
        result = any(not undone(d) for d in retractions_of.get(digest, ()))
        verdict[digest] = result
        return result

    voided: set[int] = set()
    replacement_of: dict[int, int] = {}  # correction digest -> its replacement's
    latest: dict[int, int] = {}  # target digest -> replacement of its latest correction
    for r in retracting:
        name = names[r.ref]
        replacement = int(name) if r.code == _CORRECTED and name else None  # "": stored before
        if replacement is not None:
            replacement_of[r.digest] = replacement
        if r.digest in void_ones or undone(r.digest):
            voided.add(r.digest)  # and its replacement, below
            continue
        voided.add(r.aux)
        if replacement is not None:
            earlier = latest.get(r.aux)
            if earlier is not None and earlier != replacement:
                voided.add(earlier)
            latest[r.aux] = replacement
    if replacement_of:
        voided.update([replacement_of[d] for d in voided if d in replacement_of])
    return frozenset(voided)


def _fold(
    records: list[Record], names: tuple[str, ...], blobs: Sequence[Blob], retracted: frozenset[int]
) -> View:
    """`apply_record` over the records in order, skipping the `retracted` ones (the targets of
    every retraction and correction among `records`; inlined: hot)."""
    view = View(retracted=retracted or NO_IDS)
    steps = STEPS
    for record in records:
        if not retracted or record.digest not in retracted:
            view = steps[record.code](view, record, names[record.ref], blobs)
    return view


_RETRACTING = frozenset({_RETRACTED, _CORRECTED})  # ints: cheaper to hash than enum members


def _reduce(
    journal: Journal, event: Event, digest: int, next_blob: int
) -> tuple[Journal, Record, Profile | bytes | None]:
    """One event as one journal record (plus a blob for variable-size facts)."""
    at = epoch_seconds(event.occurred_at)
    code, name, aux, aux2, blob = _fields(event)
    journal, ref = journal.intern(name)
    if blob is not None:
        aux = next_blob
    return journal, Record(at, code, digest, ref, aux, aux2), blob


_Fields = tuple[str, int, int, Profile | bytes | None]  # a record's name, aux, aux2 and blob
_STATUS_INDEX = {status: n for n, status in enumerate(ResultStatus)}
_FINDING_INDEX = {finding: n for n, finding in enumerate(ScanFinding)}
_ACTION_INDEX = {action: n for n, action in enumerate(OverrideAction)}


def _fields(event: Event) -> tuple[Code, str, int, int, Profile | bytes | None]:
    try:
        code, reduce = _REDUCERS[type(event)]
    except KeyError:
        raise TypeError(f"no journal record for {type(event).__name__}") from None
    return (code, *reduce(event, _IdDigests()))


class _IdDigests(dict[str, int]):
    """`digest64` of order, treatment and target event ids, each computed once: a scan's order
    id comes back in its scheduled, completed and resulted events, a treatment's in its start
    and its end."""

    def __missing__(self, text: str) -> int:
        digest = self[text] = digest64(text)
        return digest


def _enrolled(e: PatientEnrolled, _ids: _IdDigests) -> _Fields:
    return "", 0, 0, Profile.from_event(e)


def _treatment_started(e: TreatmentStarted, ids: _IdDigests) -> _Fields:
    kind = f"{e.modality.value}:{e.role.value}"
    return kind, ids[e.treatment_id], 0, None


def _treatment_completed(e: TreatmentCompleted, ids: _IdDigests) -> _Fields:
    return e.modality.value, ids[e.treatment_id], 0, None


def _assessed(e: ResponseAssessed, _ids: _IdDigests) -> _Fields:
    # Defaults left out to keep the journal small; `system` is a default too, but it is the
    # union's tag, so it is put back in front.
    assessment = e.assessment
    system = assessment.system
    body = assessment.model_dump_json(exclude_defaults=True)
    tag = f'{{"system":"{system}"'
    raw = (tag + ("}" if body == "{}" else "," + body[1:])).encode()
    return system, 0, 0, raw


def _declared(e: DiseaseStatusDeclared, _ids: _IdDigests) -> _Fields:
    return e.status.value, 0, 0, None


def _scan_scheduled(e: ScanScheduled, ids: _IdDigests) -> _Fields:
    return e.item, ids[e.order_id], epoch_seconds(e.scheduled_for), None


def _scan_completed(e: ScanCompleted, ids: _IdDigests) -> _Fields:
    return e.item, ids[e.order_id], 0, None


def _scan_resulted(e: ScanResulted, ids: _IdDigests) -> _Fields:
    return e.item, ids[e.order_id], _FINDING_INDEX[e.finding], None


def _visit(e: VisitCompleted, _ids: _IdDigests) -> _Fields:
    return e.item, 0, 0, None


def _lab(e: LabResulted, _ids: _IdDigests) -> _Fields:
    # aux2: the result status in the low 4 bits, the comparator of a censored value above
    # them (models.labs), so "<0.1" is never read back as 0.1.
    status = _STATUS_INDEX[e.status] | comparator_index(e.comparator) << LAB_COMPARATOR_SHIFT
    return e.loinc, _float_bits(e.value), status, None


def _checkin(e: CheckinAnswered, _ids: _IdDigests) -> _Fields:
    flags = e.self_harm + 2 * e.free_text  # bit 0: self-harm, bit 1: free text
    return "", -1 if e.score is None else e.score, flags, None


def _override(e: ClinicianOverride, _ids: _IdDigests) -> _Fields:
    return e.item, *_override_value(e), None


def _target(e: EventRetracted, ids: _IdDigests) -> _Fields:
    return "", ids[e.target_event_id], 0, None


def _corrected(e: EventCorrected, ids: _IdDigests) -> _Fields:
    return str(replacement_digest(e)), ids[e.target_event_id], 0, None


def _nothing(_e: Event, _ids: _IdDigests) -> _Fields:
    return "", 0, 0, None


# Each event kind's record code (here, not in the reducers: an enum member lookup is slow).
_REDUCERS: dict[type, tuple[Code, Callable[..., _Fields]]] = {
    PatientEnrolled: (Code.ENROLLED, _enrolled),
    TreatmentStarted: (Code.TREATMENT_STARTED, _treatment_started),
    TreatmentCompleted: (Code.TREATMENT_COMPLETED, _treatment_completed),
    ResponseAssessed: (Code.ASSESSED, _assessed),
    DiseaseStatusDeclared: (Code.DECLARED, _declared),
    ScanScheduled: (Code.SCAN_SCHEDULED, _scan_scheduled),
    ScanCompleted: (Code.SCAN_COMPLETED, _scan_completed),
    ScanResulted: (Code.SCAN_RESULTED, _scan_resulted),
    VisitCompleted: (Code.VISIT, _visit),
    LabResulted: (Code.LAB, _lab),
    CheckinAnswered: (Code.CHECKIN, _checkin),
    ClinicianOverride: (Code.OVERRIDE, _override),
    PatientDeceased: (Code.DECEASED, _nothing),
    PatientTransferred: (Code.TRANSFERRED, _nothing),
    SurveillanceDischarged: (Code.DISCHARGED, _nothing),
    EventRetracted: (Code.RETRACTED, _target),
    EventCorrected: (Code.CORRECTED, _corrected),
    ScanCancelled: (Code.SCAN_CANCELLED, _scan_completed),  # the same fields: item, order
}
_TYPE_NAMES: dict[int, str] = {  # each record code's event type, for reasons
    code: str(getattr(kind, "model_fields")["type"].default)  # noqa: B009 (mypy: a type)
    for kind, (code, _) in _REDUCERS.items()
}


def _override_value(event: ClinicianOverride) -> tuple[int, int]:
    action = _ACTION_INDEX[event.action]
    day = event.until or event.done_on
    value = day.toordinal() if day else (event.every_months or 0)
    return action, value


def _float_bits(value: float | None) -> int:
    if value is None:
        return 0
    bits: int = _INT64.unpack(_FLOAT64.pack(value))[0]
    return bits


_FLOAT64, _INT64 = struct.Struct("<d"), struct.Struct("<q")


def dump_state(state: PatientState) -> bytes:
    """Serialise a state for a table or a snapshot topic (the view is derived, not stored)."""
    blobs = [
        ["a", blob.decode()] if isinstance(blob, bytes) else ["p", _profile_dict(blob)]
        for blob in state.blobs
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
    blobs: tuple[Profile | bytes, ...] = tuple(
        blob.encode() if kind == "a" else _profile_from(blob) for kind, blob in body["blobs"]
    )
    emitted = tuple(
        (str(rid), str(item), int(due), int(overdue)) for rid, item, due, overdue in body["emitted"]
    )
    return PatientState(body["patient_id"], journal, blobs, derive(journal, blobs), emitted)


def _profile_dict(profile: Profile) -> dict[str, object]:
    fields = {name: getattr(profile, name) for name in Profile.__slots__}
    fields["flags"] = sorted(profile.flags)
    return fields


def _profile_from(raw: dict[str, object]) -> Profile:
    values: dict[str, Any] = dict(raw)
    values["flags"] = frozenset(values["flags"])
    return Profile.shared(**values)


def explain_last_response(state: PatientState) -> Evaluation | None:
    """The latest criteria evaluation with its words (re-derived: the view keeps no prose)."""
    retracted = state.view.retracted
    site = state.view.profile.site if state.view.profile is not None else None
    memories: dict[str, CriteriaMemory] = {}
    last: Evaluation | None = None
    for record in state.journal:
        if record.code == Code.ASSESSED and record.digest not in retracted:
            assessment = as_assessment(state.blobs[record.aux])
            memory = memories.get(assessment.system, CriteriaMemory())
            last, memories[assessment.system] = evaluate(memory, assessment, site)
    return last
