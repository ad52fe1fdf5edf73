"""Events that cannot be folded yet are parked, folded when they can be, and bounded.

An event for a patient not yet enrolled, or a correction or retraction whose target has not
arrived, waits in the patient's `Parking` and is folded as soon as its enrolment (target)
is folded, whatever the order and the topics they came by. Parking is bounded: an event
parked longer than `ParkingPolicy.window`, or beyond `ParkingPolicy.limit` events for one
patient, is refused (the caller dead-letters it with the reason), and the care team is told
once per patient. A self-harm check-in answer never waits: its alert is raised at once,
enrolled or not, and the answer is parked like any other event.

Why: DESIGN.md decision 1 (the log is the truth; an event is never dropped, only parked or
dead-lettered with a reason). All instants are aware datetimes; `now` is the stream's time.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from models.clocks import checkin_alert
from models.events import (
    CheckinAnswered,
    Event,
    EventCorrected,
    EventRetracted,
    PatientEnrolled,
    parse_event,
)
from models.ids import digest64
from models.outputs import AlertKind, CareTeamAlert, Severity, alert_id
from models.state import PatientState, correction_problem, evolve, fold_order

UNMATCHED_RESPONSE_DAYS = 7  # routine: a registry clerk reconciles within a week


class ParkingRefused(ValueError):
    """A parked event given up on; the message is the dead letter's reason (no input values)."""


class Parked(NamedTuple):
    """One waiting event, the stream's time when it was parked, and where it came from
    (opaque to the core: the caller's topic, partition and offset)."""

    event: Event
    parked_at: datetime
    origin: Hashable = None


NO_PARKING: Parking


class Parking(NamedTuple):
    """A patient's waiting events, and whether the care team was told of a refused one."""

    events: tuple[Parked, ...] = ()
    told: bool = False

    def __bool__(self) -> bool:
        return bool(self.events) or self.told


NO_PARKING = Parking()


@dataclass(frozen=True)
class ParkingPolicy:
    """How long (stream time) and how many events one patient's parking may hold."""

    window: timedelta = timedelta(days=90)
    limit: int = 500


@dataclass
class Admission:
    """What `admit` made of a patient's events: the new state and parking, the events folded
    (with their origin), those refused (with why), and alerts to raise now."""

    state: PatientState | None
    parking: Parking
    applied: list[tuple[Event, Hashable]] = field(default_factory=list)
    refused: list[tuple[Event, Hashable, Exception]] = field(default_factory=list)
    alerts: list[CareTeamAlert] = field(default_factory=list)
    repeated: bool = False  # an event already in the state came again


def waiting_for(state: PatientState | None, event: Event) -> str | None:
    """Why `event` cannot be folded into `state` yet ("enrolment" or "target"), or None."""
    if state is not None and state.journal.contains(digest64(event.event_id)):
        return None  # a repeat: folding it changes nothing
    if isinstance(event, EventRetracted | EventCorrected) and (
        state is None or not state.journal.contains(digest64(event.target_event_id))
    ):
        return "target"
    if state is None and not isinstance(event, PatientEnrolled):
        return "enrolment"
    return None


def admit(
    state: PatientState | None,
    parking: Parking,
    events: Sequence[tuple[Event, Hashable]],
    now: datetime,
    policy: ParkingPolicy,
    clock: datetime | None = None,
) -> Admission:
    """Fold one patient's `events` (any order) and whatever parked events they unblock.

    Events that must wait are parked at `now`; the parking is then bounded by its limit, and
    by its window if `clock` (the stream's time, its latest tick) is given: event times alone
    never expire anything, or a backfill read in offset order would expire its own events.
    Events the fold refuses are returned in `refused` with the fold's exception.
    """
    result = Admission(state, parking)
    waiting = list(parking.events)
    known = {parked.event.event_id for parked in waiting}
    for event, origin in sorted(events, key=lambda item: fold_order(item[0])):
        problem = _problem(event)
        if problem:  # never parked: no arrival can make it foldable
            result.refused.append((event, origin, ValueError(problem)))
        elif waiting_for(result.state, event) is None:
            _fold(result, event, origin)
        elif event.event_id not in known:
            known.add(event.event_id)
            waiting.append(Parked(event, now, origin))
            if result.state is None and _self_harm(event):
                result.alerts.append(_self_harm_alert(event))
    waiting = _unblock(result, waiting)
    result.parking = parking._replace(events=tuple(waiting))
    _bound(result, clock or now, policy, expire=clock is not None)
    return result


def foldable(events: Sequence[Event]) -> tuple[list[Event], list[Event]]:
    """One patient's events split into those a fold in any arrival order ends up folding and
    those that would stay parked (no enrolment among them, or a target never among them):
    what `admit` does with all of them, without folding (an offline replay's filter)."""
    if not any(isinstance(event, PatientEnrolled) for event in events):
        return [], list(events)
    known: set[str] = set()
    kept: list[Event] = []
    waiting = list(events)
    progress = True
    while progress and waiting:
        progress = False
        still: list[Event] = []
        for event in waiting:
            if isinstance(event, EventRetracted | EventCorrected) and (
                event.target_event_id not in known
            ):
                still.append(event)
                continue
            kept.append(event)
            known.add(event.event_id)
            if isinstance(event, EventCorrected):
                known.add(event.replacement.event_id)
            progress = True
        waiting = still
    return kept, waiting


def expire(
    state: PatientState | None, parking: Parking, now: datetime, policy: ParkingPolicy
) -> Admission:
    """Refuse the parked events older than the window at `now` (a tick's work)."""
    result = Admission(state, parking)
    _bound(result, now, policy)
    return result


def expires_at(parking: Parking, policy: ParkingPolicy) -> datetime | None:
    """When the oldest parked event runs out of time, if any waits."""
    if not parking.events:
        return None
    return min(parked.parked_at for parked in parking.events) + policy.window


def wake_at(settled: datetime | None, parking: Parking, policy: ParkingPolicy) -> datetime | None:
    """The earlier of the clocks' wake-up instant and the parking's next expiry."""
    expiry = expires_at(parking, policy)
    if settled is None or expiry is None:
        return settled or expiry
    return min(settled, expiry)


def _fold(result: Admission, event: Event, origin: Hashable) -> None:
    try:
        state = evolve(result.state, event)
    except Exception as exc:  # refused by the fold: the caller dead-letters it with the reason
        result.refused.append((event, origin, exc))
        return
    if state is result.state:
        result.repeated = True
    result.state = state
    result.applied.append((event, origin))


def _unblock(result: Admission, waiting: list[Parked]) -> list[Parked]:
    """Fold parked events until none more can be (a folded target can unblock a correction)."""
    progress = True
    while progress and waiting:
        progress = False
        still: list[Parked] = []
        for parked in sorted(waiting, key=lambda p: fold_order(p.event)):
            if waiting_for(result.state, parked.event) is None:
                _fold(result, parked.event, parked.origin)
                progress = True
            else:
                still.append(parked)
        waiting = still
    return waiting


def _bound(result: Admission, now: datetime, policy: ParkingPolicy, expire: bool = True) -> None:
    """Refuse parked events past the window (if `expire`), then the newest beyond the limit;
    tell the care team once."""
    kept: list[Parked] = []
    for parked in sorted(result.parking.events, key=lambda p: p.parked_at):
        why = waiting_for(result.state, parked.event) or "target"
        if expire and now - parked.parked_at >= policy.window:
            days = policy.window.days
            reason = f"{parked.event.type}: no {why} arrived within {days} days (parked)"
            result.refused.append((parked.event, parked.origin, ParkingRefused(reason)))
        elif len(kept) >= policy.limit:
            reason = f"{parked.event.type}: parking full ({policy.limit} events wait for {why})"
            result.refused.append((parked.event, parked.origin, ParkingRefused(reason)))
        else:
            kept.append(parked)
    if len(kept) == len(result.parking.events):
        return
    told = result.parking.told
    if not told:
        patient_id = result.parking.events[0].event.patient_id
        result.alerts.append(_unmatched_alert(patient_id, now, policy))
    result.parking = Parking(tuple(kept), told=True)


def _problem(event: Event) -> str | None:
    if isinstance(event, EventRetracted | EventCorrected):
        return correction_problem(event)
    return None


def _self_harm(event: Event) -> bool:
    return isinstance(event, CheckinAnswered) and event.self_harm


def _self_harm_alert(event: Event) -> CareTeamAlert:
    """The alert `settle` raises for this answer once enrolled (same id: raised once)."""
    assert isinstance(event, CheckinAnswered)
    score = -1 if event.score is None else event.score
    flags = event.self_harm + 2 * event.free_text
    digest = digest64(event.event_id)
    return checkin_alert(event.patient_id, digest, score, flags, event.occurred_at)


def _unmatched_alert(patient_id: str, now: datetime, policy: ParkingPolicy) -> CareTeamAlert:
    return CareTeamAlert(
        patient_id=patient_id,
        alert_id=alert_id(patient_id, AlertKind.UNMATCHED_EVENTS, "parking"),
        kind=AlertKind.UNMATCHED_EVENTS,
        severity=Severity.ROUTINE,
        reason=(
            f"events for this patient waited {policy.window.days} days for an enrolment or "
            "the event they correct, and were set aside (deadletter topic): reconcile them"
        ),
        raised_at=now,
        respond_by=now + timedelta(days=UNMATCHED_RESPONSE_DAYS),
    )


def dump_parking(parking: Parking) -> bytes:
    """Serialise a parking for the patients table (origins are kept if JSON can hold them)."""
    body = {
        "told": parking.told,
        "events": [
            [p.parked_at.isoformat(), p.event.model_dump(mode="json"), _origin(p.origin)]
            for p in parking.events
        ],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def load_parking(data: bytes) -> Parking:
    """The inverse of `dump_parking`."""
    body = json.loads(data)
    events = tuple(
        Parked(parse_event(event), datetime.fromisoformat(at), _origin(origin))
        for at, event, origin in body["events"]
    )
    return Parking(events, bool(body["told"]))


def _origin(origin: object) -> Hashable:
    """An origin as JSON gives it back: lists become tuples (hashable)."""
    if isinstance(origin, list | tuple):
        return tuple(_origin(part) for part in origin)
    return origin
