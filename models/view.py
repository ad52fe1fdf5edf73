"""The state derived from a patient's journal: profile, treatments, episodes, clocks' inputs.

`apply_record(view, record, ...)` is the one step of the fold; it is applied to records in
(occurred_at, event id) order, so the view is a pure function of the set of events.
Times are whole seconds since the Unix epoch (UTC), as in the journal.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import IntEnum
from typing import Any, NamedTuple

from pydantic import TypeAdapter

from models.checkins import needs_alert
from models.criteria import Assessment, CriteriaMemory, Evaluation, Response, evaluate
from models.criteria.ata import ata_category
from models.criteria.base import depth_rank
from models.criteria.confirmation import RULES, Outcome, Pending, confirm, level
from models.events import (
    DeclaredStatus,
    Flag,
    Intent,
    Language,
    Modality,
    OverrideAction,
    PatientEnrolled,
    ReceptorStatus,
    ResultStatus,
    ScanFinding,
    TreatmentRole,
)
from models.journal import Record

DAY = 86_400  # seconds
ALERT_MEMORY_DAYS = 30  # a check-in answer stays an open alert this long
# An MRD result marks this surveillance item done (protocol rules list it in `satisfied_by`).
MRD_ITEM = "mrd_result"
# ATA categories that are not an excellent response: Tg follow-up every 6-12 months (Haugen
# 2016, R62-R64); TgAb-positive patients are read as indeterminate (Haugen 2016, R56, R62).
ATA_NOT_EXCELLENT = frozenset({"indeterminate", "biochemical_incomplete", "structural_incomplete"})
ATA_INCOMPLETE_FLAG = "ata_incomplete_response"
_NO_FLAGS: frozenset[str] = frozenset()
_ATA_FLAGS = frozenset({"ata_incomplete_response"})  # ATA_INCOMPLETE_FLAG, below
NO_IDS: frozenset[int] = frozenset()


class Code(IntEnum):
    """Journal record kinds. The numbers order events that share an instant (see sort_key)."""

    ENROLLED = 1
    TREATMENT_STARTED = 2
    TREATMENT_COMPLETED = 3
    ASSESSED = 4
    DECLARED = 5
    SCAN_SCHEDULED = 6
    SCAN_COMPLETED = 7
    SCAN_RESULTED = 8
    VISIT = 9
    LAB = 10
    CHECKIN = 11
    OVERRIDE = 12
    DECEASED = 13
    TRANSFERRED = 14
    DISCHARGED = 15
    RETRACTED = 16
    CORRECTED = 17
    SCAN_CANCELLED = 18


# Active treatment pauses routine surveillance; long adjuvant endocrine or maintenance therapy
# does not (it runs for years while the patient is followed, seeds 000 and 002).
_PAUSING_ROLES = {TreatmentRole.PRIMARY, TreatmentRole.NEOADJUVANT, TreatmentRole.SALVAGE}
_PAUSING_ADJUVANT = {
    Modality.SURGERY,
    Modality.CHEMOTHERAPY,
    Modality.RADIOTHERAPY,
    Modality.RADIOIODINE,
    Modality.TRANSPLANT,
}
_FINAL_LAB = {ResultStatus.FINAL, ResultStatus.CORRECTED}
# A lab record's aux2: the status index in the low bits, a censored value's comparator above
# (models.state._lab, models.labs.comparator_index).
LAB_COMPARATOR_SHIFT = 4
_LAB_STATUS_MASK = (1 << LAB_COMPARATOR_SHIFT) - 1
_STATUSES = list(ResultStatus)
_FINDINGS = list(ScanFinding)
_OVERRIDES = list(OverrideAction)
# Python 3.11 looks an enum member up several times slower than a global: the fold's steps
# use these names.
_COMPLETE, _PARTIAL, _STABLE, _PROGRESSION = (
    Response.COMPLETE,
    Response.PARTIAL,
    Response.STABLE,
    Response.PROGRESSION,
)
_NOT_EVALUABLE = Response.NOT_EVALUABLE
_REMISSION = (_COMPLETE, _PARTIAL)
_PROGRESSION_FINDING = ScanFinding.PROGRESSION
_VALUES = {response: response.value for response in Response}
_NO_MEMORY = CriteriaMemory()  # immutable, so one instance serves every first assessment
_DECLARED_RESPONSE = {
    DeclaredStatus.NO_EVIDENCE_OF_DISEASE: Response.COMPLETE,
    DeclaredStatus.COMPLETE_REMISSION: Response.COMPLETE,
    DeclaredStatus.PARTIAL_REMISSION: Response.PARTIAL,
    DeclaredStatus.PROGRESSION: Response.PROGRESSION,
    DeclaredStatus.RECURRENCE: Response.PROGRESSION,
}


def remission_standing(
    view: View, day: Callable[[int], date]
) -> tuple[str, str, int, Episode | None] | None:
    """The remission part of a patient's standing: (status, detail, anchor, episode), or None
    when neither an episode, a pending response nor a progression says anything. `day` turns a
    journal time into the patient's local date (for the words). The anchor is a journal time.

    Statuses: `complete_remission` / `partial_remission` (a confirmed episode),
    `progression_unconfirmed` (an episode whose system saw progression once and needs a second
    consecutive assessment: surveillance continues), `responding` (a response not yet
    confirmed), `active_disease` (progression), `remission_ended` (the last episode ended
    because its criteria no longer hold, without progression).
    """
    episode = view.current_episode()
    end = view.last_treatment_end
    if episode is not None:
        status = f"{episode.kind}_remission"
        detail = (
            f"episode {episode.number} since {day(episode.started)} ({episode.basis}), "
            f"confirmed {day(episode.confirmed)}"
        )
        if episode.depth:
            detail += f"; depth {episode.depth}"
        for pending in view.pending:
            rule = RULES[pending.system]
            if pending.response is _PROGRESSION:
                status = "progression_unconfirmed"
            detail += (
                f"; {pending.system} {pending.category} on {day(pending.at)} awaits "
                f"{rule.awaits} ({rule.source})"
            )
        if iupd := _pending_iupd(view):
            status = "progression_unconfirmed"
            detail += f"; {iupd}"
        if view.molecular_relapse_at >= episode.started:
            detail += f"; MRD relapse on {day(view.molecular_relapse_at)}"
        return status, detail, max(episode.started, end), episode
    if view.progression_at and view.progression_at >= end:
        return "active_disease", f"progression or recurrence on {day(view.progression_at)}", 0, None
    if iupd := _pending_iupd(view):
        return "progression_unconfirmed", iupd, 0, None  # no anchor: nothing to follow yet
    responses = [p for p in view.pending if p.response in _REMISSION]
    if responses:
        first = min(responses, key=lambda p: p.at)
        rule = RULES[first.system]
        detail = (
            f"{first.system} {first.category} on {day(first.at)} is not confirmed: it awaits "
            f"{rule.awaits} ({rule.source})"
        )
        return "responding", detail, max(first.at, end), None
    last = view.episodes[-1] if view.episodes else None
    if last is not None and last.ended >= end and last.ended_by not in _NOT_A_LOSS:
        detail = f"episode {last.number} ended {day(last.ended)}: {last.ended_by}"
        return "remission_ended", detail, end or last.started, None
    return None


def _pending_iupd(view: View) -> str | None:
    """Words for an iRECIST iUPD awaiting confirmation (Seymour 2017), or None."""
    since = _memory_of(view.criteria, "recist").get("iupd_on")
    if not isinstance(since, str):
        return None
    return (
        f"recist iUPD on {since}: unconfirmed progression, confirmed (iCPD) only by further "
        "growth or more new lesions 4-8 weeks later (Seymour 2017, iRECIST Table 2)"
    )


# Why an episode may end without its criteria failing: these are not "remission_ended".
_NOT_A_LOSS = frozenset({"progression", "treatment", "deceased", "transferred", "discharged"})


def pauses_surveillance(modality: Modality, role: TreatmentRole) -> bool:
    """True if this treatment means active treatment (routine reminders stop meanwhile)."""
    return role in _PAUSING_ROLES or (
        role is TreatmentRole.ADJUVANT and modality in _PAUSING_ADJUVANT
    )


@dataclass(frozen=True, slots=True)
class Profile:
    """What enrolment says about the patient; no identifying data."""

    site: str
    subtype: str | None
    er: str
    pr: str
    her2: str
    stage: str | None
    intent: str
    time_zone: str
    language: str
    flags: frozenset[str]
    protocol: str | None

    @classmethod
    def from_event(cls, event: PatientEnrolled) -> Profile:
        r = event.receptors
        return _profile_of(
            event.site,
            event.subtype,
            r.er,
            r.pr,
            r.her2,
            event.stage,
            event.intent,
            event.time_zone,
            event.language,
            event.flags,
            event.protocol,
        )

    @staticmethod
    @functools.lru_cache(maxsize=4096)
    def shared(**fields: Any) -> Profile:
        """One instance per distinct profile: most patients share a handful of profiles, and
        the profiles are immutable, so sharing saves memory in every state."""
        return Profile(**fields)


@functools.lru_cache(maxsize=4096)
def _profile_of(
    site: str,
    subtype: str | None,
    er: ReceptorStatus,
    pr: ReceptorStatus,
    her2: ReceptorStatus,
    stage: str | None,
    intent: Intent,
    time_zone: str,
    language: Language,
    flags: frozenset[Flag],
    protocol: str | None,
) -> Profile:
    """`Profile.from_event`, cached on the event's own values: building the profile's fields
    costs more than looking them up, and most patients share a handful of profiles."""
    return Profile.shared(
        site=site,
        subtype=subtype,
        er=er.value,
        pr=pr.value,
        her2=her2.value,
        stage=stage,
        intent=intent.value,
        time_zone=time_zone,
        language=language.value,
        flags=frozenset(f.value for f in flags) if flags else _NO_FLAGS,
        protocol=protocol,
    )


class Episode(NamedTuple):
    """One confirmed remission, numbered from 1. `started` is when its criteria were first
    met, `confirmed` the assessment that confirmed it by its system's rule
    (`models.criteria.confirmation.RULES`); `depth` is the deepest shown and still standing
    (an MRD relapse takes MRD-negative away), `response_depth` the deepest by response criteria.
    """

    number: int
    kind: str  # "complete" | "partial"
    started: int
    basis: str
    confirmed: int = 0
    ended: int = 0
    ended_by: str = ""
    depth: str | None = None
    response_depth: str | None = None


class Order(NamedTuple):
    """A scan order not yet resulted: for the pre-scan and result-pending check-ins."""

    digest: int
    item: str
    scheduled_for: int = 0
    completed: int = 0


class View(NamedTuple):
    """The derived state (a NamedTuple: one small immutable tuple, cheap to copy with a change)."""

    profile: Profile | None = None
    lifecycle: str = "active"  # active | deceased | transferred | discharged
    lifecycle_at: int = 0
    open_treatments: frozenset[int] = NO_IDS
    last_treatment_end: int = 0
    episodes: tuple[Episode, ...] = ()
    progression_at: int = 0
    criteria: tuple[tuple[str, CriteriaMemory], ...] = ()
    last_evaluation: tuple[str, str, str, int] | None = None  # system, category, response, at
    declared: tuple[str, int] | None = None
    done: tuple[str | int, ...] = ()  # flat pairs: item or LOINC, when last done (epoch µs)
    orders: tuple[Order, ...] = ()
    overrides: tuple[tuple[str, int, int, int], ...] = ()
    alerts: tuple[tuple[int, int, int, int], ...] = ()  # (digest, score, flags, at)
    last_checkin: tuple[int, int] | None = None
    last_contact: int = 0
    retracted: frozenset[int] = NO_IDS
    # Date-only facts ("done elsewhere on 2027-01-10"): flat pairs of item and date ordinal. A
    # calendar date is not an instant: no single instant falls on the same date from UTC-12 to
    # UTC+14, so these are kept as dates and never converted through a zone.
    done_days: tuple[str | int, ...] = ()
    enrolled_at: int = 0  # the first enrolment (seconds), a stand-in for the diagnosis date
    pending: tuple[Pending, ...] = ()  # per system: a response or progression awaiting repeat
    molecular_relapse_at: int = 0  # the confirmed MRD relapse (Heuser 2021), for the alert

    def current_episode(self) -> Episode | None:
        if self.episodes and not self.episodes[-1].ended:
            return self.episodes[-1]
        return None

    def done_at(self, name: str) -> int:
        done = self.done
        for i in range(0, len(done), 2):
            if done[i] == name:
                return done[i + 1]  # type: ignore[return-value]
        return 0

    def done_on(self, name: str) -> date | None:
        """The latest date-only "done" of `name` (a clinician's done-elsewhere), or None."""
        days = self.done_days
        for i in range(0, len(days), 2):
            if days[i] == name:
                return date.fromordinal(days[i + 1])  # type: ignore[arg-type]
        return None

    def done_day_items(self) -> list[tuple[str, date]]:
        """Every date-only "done", as (item, date)."""
        days = self.done_days
        return [(days[i], date.fromordinal(days[i + 1])) for i in range(0, len(days), 2)]  # type: ignore[misc,arg-type]

    def done_items(self) -> list[tuple[str, int]]:
        return list(zip(self.done[::2], self.done[1::2], strict=True))  # type: ignore[arg-type]

    def override(self, item: str) -> tuple[OverrideAction, int, int] | None:
        for key, action, value, at in self.overrides:
            if key == item:
                return _OVERRIDES[action], value, at
        return None

    def pending_of(self, system: str) -> Pending | None:
        for pending in self.pending:
            if pending.system == system:
                return pending
        return None

    def derived_flags(self) -> frozenset[str]:
        """Protocol flags the fold derives from responses: `ata_incomplete_response` when the
        last ATA response to therapy is not excellent, or Tg antibodies are present (Haugen
        2016, R62: Tg every 6-12 months; TgAb-positive Tg is read as indeterminate)."""
        profile = self.profile
        category = ata_category(_memory_of(self.criteria, "ata"))
        tgab = profile is not None and "tg_antibodies" in profile.flags
        if category in ATA_NOT_EXCELLENT or (tgab and category != "excellent"):
            return _ATA_FLAGS
        return _NO_FLAGS


Blob = Any  # Profile, an Assessment, or an assessment's JSON bytes
Blobs = Mapping[int, Blob] | Sequence[Blob]  # indexed by a record's `aux`


def apply_record(view: View, record: Record, names: tuple[str, ...], blobs: Blobs) -> View:
    """One fold step. Records must arrive in journal order; retracted ones are not applied."""
    return STEPS[record.code](view, record, names[record.ref], blobs)


def _enrolled(view: View, record: Record, _name: str, blobs: Blobs) -> View:
    lifecycle = "deceased" if view.lifecycle == "deceased" else "active"
    enrolled_at = view.enrolled_at or record.at  # records arrive in time order: the first
    return view._replace(profile=blobs[record.aux], lifecycle=lifecycle, enrolled_at=enrolled_at)


def _treatment_completed(view: View, record: Record, _name: str, _b: Blobs) -> View:
    if record.aux not in view.open_treatments:
        return view
    values = list(view)
    values[_OPEN_TREATMENTS] = (view.open_treatments - {record.aux}) or NO_IDS
    values[_LAST_TREATMENT_END] = record.at
    return _tuple_new(View, values)


def _declared(view: View, record: Record, name: str, _b: Blobs) -> View:
    """A clinician's declared status counts at once: it is the clinician's own confirmation."""
    at = record.at
    view = view._replace(declared=(name, at))
    response = _DECLARED_RESPONSE.get(DeclaredStatus(name))
    if response is None:
        return view
    if response is _PROGRESSION:
        return _progression(view, at)
    return _remission(view, response, at, _label("declared", name), None, at)


def _scan_scheduled(view: View, record: Record, name: str, _b: Blobs) -> View:
    values = list(view)
    values[_ORDERS] = _put_order(view.orders, Order(record.aux, name, record.aux2))
    return _tuple_new(View, values)


def _scan_completed(view: View, record: Record, name: str, _b: Blobs) -> View:
    at, digest, orders = record.at, record.aux, view.orders
    existing = _find_order(orders, digest)
    if existing is None:
        order = Order(digest, name, 0, at)
    else:
        order = Order(digest, existing.item, existing.scheduled_for, at)
    values = list(view)
    values[_ORDERS] = _put_order(orders, order)
    values[_DONE] = _done(view, name, at)
    values[_CONTACT] = _later(view.last_contact, at)
    return _tuple_new(View, values)


def _scan_resulted(view: View, record: Record, name: str, _b: Blobs) -> View:
    at, digest = record.at, record.aux
    values = list(view)
    values[_ORDERS] = tuple([o for o in view.orders if o.digest != digest])
    values[_DONE] = _done(view, name, at)
    view = _tuple_new(View, values)
    if _FINDINGS[record.aux2] is _PROGRESSION_FINDING:
        view = _progression(view, at)
    return view


def _scan_cancelled(view: View, record: Record, _name: str, _b: Blobs) -> View:
    """A cancelled scan no longer waits for its pre-scan check-in; a completed one still
    waits for its result (the cancellation came too late to undo the scan)."""
    existing = _find_order(view.orders, record.aux)
    if existing is None or existing.completed:
        return view
    values = list(view)
    values[_ORDERS] = tuple([o for o in view.orders if o.digest != record.aux])
    return _tuple_new(View, values)


def _visit(view: View, record: Record, name: str, _b: Blobs) -> View:
    at = record.at
    values = list(view)
    values[_DONE] = _done(view, name, at)
    values[_CONTACT] = _later(view.last_contact, at)
    return _tuple_new(View, values)


def _lab(view: View, record: Record, name: str, _b: Blobs) -> View:
    if _STATUSES[record.aux2 & _LAB_STATUS_MASK] not in _FINAL_LAB:
        return view  # preliminary or pending: the clock does not move yet
    return _visit(view, record, name, _b)


def _unchanged(view: View, _record: Record, _name: str, _b: Blobs) -> View:
    return view


def _treatment_started(view: View, record: Record, name: str, _b: Blobs) -> View:
    role = _pausing_role(name)
    if role is None:
        return view
    values = list(view)
    values[_OPEN_TREATMENTS] = view.open_treatments | {record.aux}
    view = _tuple_new(View, values)
    episode = view.current_episode()
    if episode is not None and role == TreatmentRole.SALVAGE.value:
        return _end_episode(view, record.at, "treatment")
    return view


@functools.lru_cache(maxsize=64)
def _pausing_role(kind: str) -> str | None:
    """The role in a "modality:role" treatment kind if that treatment pauses surveillance, else
    None (cached: a few dozen kinds exist, and parsing them into enums is slow)."""
    modality, role = kind.split(":")
    return role if pauses_surveillance(Modality(modality), TreatmentRole(role)) else None


def _assessed(view: View, record: Record, system: str, blobs: Blobs) -> View:
    assessment = as_assessment(blobs[record.aux])
    criteria = view.criteria
    site = view.profile.site if view.profile is not None else None
    evaluation, memory = evaluate(_memory_of(criteria, system), assessment, site)
    values = list(view)
    values[_CRITERIA] = _with_memory(criteria, system, memory)
    at, category, response = record.at, evaluation.category, evaluation.response
    values[_LAST_EVALUATION] = (system, category, _VALUES[response], at)
    values[_CONTACT] = _later(view.last_contact, at)
    if system == "mrd":  # an MRD result is the MRD surveillance item done (c15)
        values[_DONE] = _done(view, MRD_ITEM, at)
    view = _tuple_new(View, values)
    return _on_evaluation(view, evaluation, at)


def _memory_of(criteria: tuple[tuple[str, CriteriaMemory], ...], system: str) -> CriteriaMemory:
    for name, memory in criteria:
        if name == system:
            return memory
    return _NO_MEMORY


def _with_memory(
    criteria: tuple[tuple[str, CriteriaMemory], ...], system: str, memory: CriteriaMemory
) -> tuple[tuple[str, CriteriaMemory], ...]:
    """`criteria` (sorted by system) with `system`'s memory replaced or added."""
    if not criteria or (len(criteria) == 1 and criteria[0][0] == system):
        return ((system, memory),)  # one system per patient is the common case
    memories = dict(criteria)
    memories[system] = memory
    return tuple(sorted(memories.items()))


_ASSESSMENT: TypeAdapter[Assessment] = TypeAdapter(Assessment)


def as_assessment(blob: Blob) -> Assessment:
    if isinstance(blob, bytes):
        return _parsed_assessment(blob)
    return blob  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=8192)
def _parsed_assessment(blob: bytes) -> Assessment:
    """A stored assessment parsed once (models are frozen): every re-derivation of a view
    (a late event, a state loaded from the table) parsed each of its assessments again."""
    return _ASSESSMENT.validate_json(blob)


def _on_evaluation(view: View, evaluation: Evaluation, at: int) -> View:
    """What one evaluation does to the episodes, by its system's confirmation rule."""
    system, response = evaluation.system, evaluation.response
    current = view.current_episode()
    if evaluation.molecular_relapse:
        view = _molecular_relapse(view, at)
        current = view.current_episode()
    if evaluation.ends_remission and current is not None:
        view = _end_episode(view, at, _label(system, evaluation.category))
        current = None
    if response is _NOT_EVALUABLE and evaluation.depth is not None:
        return _deepen(view, evaluation.depth) if current is not None else view
    if not view.pending and response is not _PROGRESSION and response not in _REMISSION:
        return view  # SD or not evaluable with nothing pending: the commonest case
    if response in _REMISSION and current is not None:
        shown = level(system, response, evaluation.depth, evaluation.category)
        if shown <= _episode_level(current, system):
            return _put_pending(view, system, None)  # a remission seen again: nothing new
    outcome = confirm(view.pending_of(system), evaluation, at)
    view = _put_pending(view, system, outcome.pending)
    counts = outcome.counts
    if counts is _PROGRESSION:
        return _progression(view, outcome.since)
    if counts is not None:
        basis = _basis(system, outcome)
        current = view.current_episode()
        deeper = current is None or level(
            system, counts, outcome.depth, outcome.category
        ) > _episode_level(current, system)
        return _remission(view, counts, outcome.since, basis, outcome.depth, at, deeper)
    return view


def _basis(system: str, outcome: Outcome) -> str:
    return _label(system, outcome.category)


def _episode_level(episode: Episode, system: str) -> int:
    response = _COMPLETE if episode.kind == "complete" else _PARTIAL
    category = episode.basis.partition(" ")[2]
    return level(system, response, episode.depth, category)


def _put_pending(view: View, system: str, pending: Pending | None) -> View:
    """`view` with `system`'s pending response or progression replaced (None: removed)."""
    if pending is None and not view.pending:
        return view
    kept = tuple(p for p in view.pending if p.system != system)
    new = (*kept, pending) if pending is not None else kept
    if new == view.pending:
        return view
    values = list(view)
    values[_PENDING] = new
    return _tuple_new(View, values)


def _remission(
    view: View,
    response: Response,
    since: int,
    basis: str,
    depth: str | None,
    confirmed: int,
    deeper: bool = False,
) -> View:
    """Open a numbered episode for a confirmed response, or deepen the current one (an
    episode's depth is the deepest shown, not the latest; `deeper` says the confirmed response
    is deeper than the episode's, which then takes its basis)."""
    kind = "complete" if response is _COMPLETE else "partial"
    current = view.current_episode()
    if current is None:
        number = len(view.episodes) + 1
        episode = Episode(number, kind, since, basis, confirmed, depth=depth, response_depth=depth)
        return _with_episodes(view, (*view.episodes, episode))
    if current.kind == "complete":
        kind = "complete"
    updated = current._replace(
        kind=kind,
        basis=basis if deeper or kind != current.kind else current.basis,
        depth=_deeper(current.depth, depth),
        response_depth=_deeper(current.response_depth, depth),
    )
    if updated == current:
        return view
    return _with_episodes(view, (*view.episodes[:-1], updated))


def _deeper(a: str | None, b: str | None) -> str | None:
    return b if depth_rank(b) > depth_rank(a) else a


def _deepen(view: View, depth: str) -> View:
    """A depth shown without a response of its own (MRD-negative) deepens the current episode."""
    current = view.current_episode()
    if current is None or depth_rank(depth) <= depth_rank(current.depth):
        return view
    return _with_episodes(view, (*view.episodes[:-1], current._replace(depth=depth)))


def _molecular_relapse(view: View, at: int) -> View:
    """A confirmed MRD relapse (Heuser 2021): the depth falls back to what the response
    criteria showed, and the care team is alerted (see models.clocks)."""
    view = view._replace(molecular_relapse_at=at)
    current = view.current_episode()
    if current is None or current.depth == current.response_depth:
        return view
    updated = current._replace(depth=current.response_depth)
    return _with_episodes(view, (*view.episodes[:-1], updated))


def _progression(view: View, at: int) -> View:
    """A confirmed progression (or one that needs no confirmation) ends the episode."""
    view = view._replace(progression_at=at)
    return _end_episode(view, at, "progression")


def _with_episodes(view: View, episodes: tuple[Episode, ...]) -> View:
    values = list(view)
    values[_EPISODES] = episodes
    return _tuple_new(View, values)


@functools.lru_cache(maxsize=1024)
def _label(system: str, category: str) -> str:
    """One shared string per (system, category): an episode's basis, kept in many states."""
    return f"{system} {category}"


def _end_episode(view: View, at: int, why: str) -> View:
    current = view.current_episode()
    if current is None:
        return view
    ended = current._replace(ended=at, ended_by=why)
    return _with_episodes(view, (*view.episodes[:-1], ended))


def _done(view: View, name: str, at: int) -> tuple[str | int, ...]:
    """`view.done` with `name` last done at `at` (the latest date wins)."""
    done = view.done
    # Names are str and times int, so a search of the flat tuple finds a name's own slot.
    if name not in done:
        return (*done, name, at)
    i = done.index(name)
    if done[i + 1] >= at:  # type: ignore[operator]
        return done
    return (*done[: i + 1], at, *done[i + 2 :])


def _later(a: int, b: int) -> int:
    """`max(a, b)` of two ints, at half the cost of the builtin's generic call."""
    return b if b > a else a


def _find_order(orders: tuple[Order, ...], digest: int) -> Order | None:
    for order in orders:
        if order.digest == digest:
            return order
    return None


def _put_order(orders: tuple[Order, ...], order: Order) -> tuple[Order, ...]:
    if not orders:
        return (order,)
    kept = [o for o in orders if o.digest != order.digest]
    kept.append(order)
    return tuple(kept)


def _checkin(view: View, record: Record, _name: str, _b: Blobs) -> View:
    at, score, flags = record.at, record.aux, record.aux2
    values = list(view)
    values[_LAST_CHECKIN] = (at, score)
    if needs_alert(score, bool(flags & 1)):
        # Older answers were escalated long ago; keeping them would grow the state for ever.
        since = at - ALERT_MEMORY_DAYS * DAY
        recent = tuple(a for a in view.alerts if a[3] >= since)
        values[_ALERTS] = (*recent, (record.digest, score, flags, at))
    return _tuple_new(View, values)


def _override(view: View, record: Record, item: str, _b: Blobs) -> View:
    action = _OVERRIDES[record.aux]
    if action is OverrideAction.DONE_ELSEWHERE:
        view = view._replace(done_days=_done_day(view.done_days, item, record.aux2))
    kept = tuple(o for o in view.overrides if o[0] != item)
    return view._replace(overrides=(*kept, (item, record.aux, record.aux2, record.at)))


def _done_day(days: tuple[str | int, ...], item: str, ordinal: int) -> tuple[str | int, ...]:
    """`days` with `item` done on the date `ordinal` (the latest date wins)."""
    for i in range(0, len(days), 2):
        if days[i] == item:
            if days[i + 1] >= ordinal:  # type: ignore[operator]
                return days
            return (*days[: i + 1], ordinal, *days[i + 2 :])
    return (*days, item, ordinal)


def _lifecycle(view: View, record: Record, _name: str, _b: Blobs) -> View:
    lifecycle = {
        Code.DECEASED: "deceased",
        Code.TRANSFERRED: "transferred",
        Code.DISCHARGED: "discharged",
    }[Code(record.code)]
    view = view._replace(lifecycle=lifecycle, lifecycle_at=record.at)
    return _end_episode(view, record.at, lifecycle)


# Field positions for the commonest steps, which build the next view from a list: three
# times faster than NamedTuple._replace, and these steps are most of a patient's events.
_ORDERS = View._fields.index("orders")
_CRITERIA = View._fields.index("criteria")
_ALERTS = View._fields.index("alerts")
_LAST_EVALUATION = View._fields.index("last_evaluation")
_LAST_CHECKIN = View._fields.index("last_checkin")
_DONE = View._fields.index("done")
_CONTACT = View._fields.index("last_contact")
_EPISODES = View._fields.index("episodes")
_PENDING = View._fields.index("pending")
_OPEN_TREATMENTS = View._fields.index("open_treatments")
_LAST_TREATMENT_END = View._fields.index("last_treatment_end")
_tuple_new = tuple.__new__

_Step = Callable[[View, Record, str, Blobs], View]
STEPS: dict[int, _Step] = {
    Code.ENROLLED: _enrolled,
    Code.TREATMENT_STARTED: _treatment_started,
    Code.TREATMENT_COMPLETED: _treatment_completed,
    Code.ASSESSED: _assessed,
    Code.DECLARED: _declared,
    Code.SCAN_SCHEDULED: _scan_scheduled,
    Code.SCAN_COMPLETED: _scan_completed,
    Code.SCAN_RESULTED: _scan_resulted,
    Code.VISIT: _visit,
    Code.LAB: _lab,
    Code.CHECKIN: _checkin,
    Code.OVERRIDE: _override,
    Code.DECEASED: _lifecycle,
    Code.TRANSFERRED: _lifecycle,
    Code.DISCHARGED: _lifecycle,
    Code.RETRACTED: _unchanged,
    Code.CORRECTED: _unchanged,
    Code.SCAN_CANCELLED: _scan_cancelled,
}
