"""Surveillance clocks: where a patient stands at `now`, what is due, and what to emit.

`forecast(state, now, catalog)` explains everything upcoming; `settle(state, now, catalog)`
turns what has come due into reminders, cancellations and care-team alerts, each exactly once.
All calendar reasoning is in the patient's own time zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from models import checkins
from models.dates import add_days, add_months, local_date, start_of_day
from models.events import OverrideAction
from models.outputs import (
    AlertKind,
    CareTeamAlert,
    Category,
    CheckinReason,
    Output,
    Reminder,
    ReminderCancelled,
    ReminderKind,
    Severity,
    alert_id,
    reminder_id,
)
from models.protocols import Catalog, Protocol, ProtocolProfile, next_window
from models.state import PatientState, epoch_seconds
from models.view import ALERT_MEMORY_DAYS, DAY, Episode, View, remission_standing

LOST_TO_FOLLOW_UP_MONTHS = 15  # cancer registries' definition (DOMAIN.md §2)
OVERDUE_RESPONSE_DAYS = 7
MOLECULAR_RELAPSE_RESPONSE_DAYS = 2  # an MRD relapse calls for prompt review (Heuser 2021)


@dataclass(frozen=True, slots=True)
class Due:
    """One upcoming item with its window and the rule that produced it."""

    item: str
    category: Category
    kind: ReminderKind
    earliest: date
    due: date
    overdue: date
    reason: str
    source: str
    protocol: str
    reminder_id: str
    last_done: date | None = None
    checkin_reason: CheckinReason | None = None


@dataclass(frozen=True, slots=True)
class Standing:
    """Where the patient stands at one instant."""

    status: str
    detail: str
    anchor: date | None
    episode: Episode | None


@dataclass(frozen=True, slots=True)
class Forecast:
    patient_id: str
    standing: Standing
    protocol: str | None
    anchor: date | None  # the date the protocol's clocks count from
    items: tuple[Due, ...]
    not_reminded: tuple[tuple[str, str, str], ...]
    alerts: tuple[CareTeamAlert, ...]
    # LOINC codes of final lab results that no marker value set and no rule knows: they moved
    # no clock. Reported (timeline, streams log and metric), never dropped silently.
    unmapped: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Settlement:
    state: PatientState
    outputs: list[Output]
    wake_at: datetime | None
    plan: Plan | None = None  # the facts' plan, for the next `settle` of the same facts


def to_datetime(seconds: int) -> datetime:
    """The aware UTC instant of a journal time (whole seconds since the Unix epoch)."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)


def standing(view: View, now: datetime | None = None) -> Standing:
    """The patient's remission and surveillance standing. It follows from the facts alone:
    a response is confirmed by an assessment, never by time passing (`now` is accepted for
    the callers that pass it, and not read)."""
    zone = view.profile.time_zone if view.profile else "UTC"

    def day(seconds: int) -> date:
        return local_date(to_datetime(seconds), zone)

    episode = view.current_episode()
    if view.lifecycle != "active":
        return Standing(view.lifecycle, "surveillance stopped", None, episode)
    if view.open_treatments:
        return Standing("on_treatment", "active treatment: reminders paused", None, episode)
    remission = remission_standing(view, day)  # episodes confirm by repeat assessment, not time
    if remission is not None:
        status, detail, anchor, episode = remission
        return Standing(status, detail, day(anchor) if anchor else None, episode)
    intent = view.profile.intent if view.profile else "curative"
    if view.last_treatment_end and intent == "curative":
        end = day(view.last_treatment_end)
        return Standing("post_treatment", f"curative treatment ended {end}", end, None)
    return Standing("awaiting_assessment", "no treatment end or response yet", None, None)


@dataclass(frozen=True, slots=True)
class Plan:
    """What `forecast` knows from the facts alone, whatever the instant: the standing, the
    protocol, the anchor and the surveillance windows (`Due` items, in protocol order).

    None of it reads `now`; check-ins, alerts and what has come due do, and are worked out
    per call. `plan(state, catalog)` makes one; `forecast` and `settle` take it back and use it
    only for the very facts (`view`, by identity) and catalog it was made from, so a stale
    plan can cost a recomputation, never a wrong answer. A tick settles a patient whose facts
    have not changed since their last event: the plan made then is reused.
    """

    patient_id: str
    view: View
    catalog: Catalog
    standing: Standing
    protocol: str | None
    anchor: date | None
    items: tuple[Due, ...]
    not_reminded: tuple[tuple[str, str, str], ...]
    unmapped: tuple[str, ...]
    no_protocol: bool  # enrolled and active, but no protocol applies

    def fits(self, state: PatientState, catalog: Catalog) -> bool:
        """Whether this plan was made from `state`'s facts and this catalog."""
        return (
            self.view is state.view
            and self.catalog is catalog
            and self.patient_id == state.patient_id
        )


def plan(state: PatientState, catalog: Catalog) -> Plan:
    """The part of the forecast that depends on the facts only (see `Plan`)."""
    view = state.view
    where = standing(view)
    profile = view.profile
    if profile is None:
        return Plan(state.patient_id, view, catalog, where, None, None, (), (), (), False)
    items: tuple[Due, ...] = ()
    unmapped: tuple[str, ...] = ()
    not_reminded: tuple[tuple[str, str, str], ...] = ()
    protocol_id = None
    anchor = where.anchor
    selection = _protocol_profile(view, where)
    protocol = catalog.select(selection)
    if protocol is not None:
        protocol_id = f"{protocol.id}@{protocol.version}"
        not_reminded = tuple((d.what, d.reason, d.source) for d in protocol.not_reminded())
        if protocol.anchor == "enrolment":
            # Counted from enrolment whatever the treatment (seed 001: the three-month
            # checkpoint runs during treatment too), while surveillance is active.
            anchor = None
            if view.lifecycle == "active" and view.enrolled_at:
                anchor = local_date(to_datetime(view.enrolled_at), profile.time_zone)
        elif anchor is not None and protocol.anchor == "treatment_end" and view.last_treatment_end:
            end = local_date(to_datetime(view.last_treatment_end), profile.time_zone)
            anchor = max(end, anchor) if where.episode is None else end
        if anchor is not None:
            items = tuple(_surveillance(state, catalog, protocol, anchor, protocol_id, selection))
        if view.lifecycle == "active":
            unmapped = _unmapped(view, catalog)
    no_protocol = protocol is None and view.lifecycle == "active"
    return Plan(
        state.patient_id,
        view,
        catalog,
        where,
        protocol_id,
        anchor,
        items,
        not_reminded,
        unmapped,
        no_protocol,
    )


def _fitting(known: Plan | None, state: PatientState, catalog: Catalog) -> Plan:
    """`known` if it was made from `state`'s facts and `catalog`, else a new plan."""
    return known if known is not None and known.fits(state, catalog) else plan(state, catalog)


def forecast(
    state: PatientState, now: datetime, catalog: Catalog, known: Plan | None = None
) -> Forecast:
    """Every upcoming surveillance item and check-in, and the alerts standing at `now`.

    `known`: a `Plan` made earlier from the same facts, to save recomputing it (ignored if
    it does not fit `state` and `catalog`)."""
    facts = _fitting(known, state, catalog)
    view = state.view
    where = facts.standing
    profile = view.profile
    if profile is None:
        return Forecast(state.patient_id, where, None, None, (), (), ())
    today = local_date(now, profile.time_zone)
    items = list(facts.items)
    if view.lifecycle == "active":
        items.extend(_checkins(state, where, today))
    alerts = tuple(_alerts(state, items, where, today, now))
    if facts.no_protocol:
        alerts += (_no_protocol(state.patient_id, profile.site, catalog, now),)
    return Forecast(
        state.patient_id,
        where,
        facts.protocol,
        facts.anchor,
        tuple(items),
        facts.not_reminded,
        alerts,
        facts.unmapped,
    )


def due(state: PatientState, now: datetime, catalog: Catalog) -> tuple[Due, ...]:
    """What is due at `now`: every item whose window has opened (earliest <= the patient's
    local date), overdue ones included. The full picture is `forecast`."""
    upcoming = forecast(state, now, catalog)
    if state.view.profile is None:
        return ()
    today = local_date(now, state.view.profile.time_zone)
    return tuple(d for d in upcoming.items if d.earliest <= today)


def _protocol_profile(view: View, where: Standing) -> ProtocolProfile:
    p = view.profile
    assert p is not None
    return ProtocolProfile(
        site=p.site,
        receptors={"er": p.er, "pr": p.pr, "her2": p.her2},
        stage=p.stage,
        intent=p.intent,
        flags=p.flags | view.derived_flags(),  # e.g. an ATA response short of excellent
        protocol=p.protocol,
        subtype=p.subtype,
        in_remission=where.status in _IN_REMISSION,
    )


_IN_REMISSION = frozenset({"complete_remission", "partial_remission"})


def _unmapped(view: View, catalog: Catalog) -> tuple[str, ...]:
    """The codes of final lab results this patient has that mean nothing to the catalog."""
    done = view.done
    return tuple(
        name
        for name in done[::2]
        if isinstance(name, str) and _LOINC.match(name) and not catalog.knows_code(name)
    )


def lab_code_mapped(code: str, catalog: Catalog) -> bool:
    """Whether a lab result under `code` can count for some surveillance item (a marker's
    value set, a related code, or a rule's own code). For adapters that log and count the
    results that cannot."""
    return catalog.knows_code(code)


_LOINC = re.compile(r"^[0-9]{1,7}-[0-9]$")


def _surveillance(
    state: PatientState,
    catalog: Catalog,
    protocol: Protocol,
    anchor: date,
    protocol_id: str,
    selection: ProtocolProfile,
) -> list[Due]:
    view = state.view
    assert view.profile is not None
    zone = view.profile.time_zone
    enrolled = local_date(to_datetime(view.enrolled_at), zone) if view.enrolled_at else None
    result: list[Due] = []
    for rule in protocol.applicable_rules(selection):
        override = view.override(rule.id)
        action = override[0] if override else None
        if action is OverrideAction.DISCONTINUE:
            continue
        every = override[1] if action is OverrideAction.CHANGE_FREQUENCY and override else None
        names = (rule.id, *rule.satisfied_by.items, *catalog.rule_codes(protocol, rule))
        last = _last_done(view, names, zone)
        if last is not None and last < anchor:
            last = None
        window = next_window(rule, anchor, last, every, enrolled)
        if window is None:
            continue
        earliest, due, overdue = window.earliest, window.due, window.overdue
        reason = f"{rule.label}: {window.phase}"
        if (
            last is not None
            and rule.plan.first is not None
            and window == next_window(rule, anchor, None, every, enrolled)
        ):
            # Before the first window (a PSA before 6 weeks): it does not count as the first.
            reason += f"; {last} was too early to count as the first"
            last = None
        elif last is not None:
            reason += f"; last done {last}"
        if action is OverrideAction.POSTPONE and override and date.fromordinal(override[1]) > due:
            until = date.fromordinal(override[1])
            shift = (until - due).days
            earliest, due, overdue = add_days(earliest, shift), until, add_days(overdue, shift)
            reason += f"; postponed by clinician to {until}"
        category = Category(rule.category)
        rid = reminder_id(state.patient_id, rule.id, due, ReminderKind.DUE)
        source = f"{rule.source} ({rule.date})"
        result.append(
            Due(
                rule.id,
                category,
                ReminderKind.DUE,
                earliest,
                due,
                overdue,
                reason,
                source,
                protocol_id,
                rid,
                last,
            )
        )
    return result


def _last_done(view: View, names: tuple[str, ...], zone: str) -> date | None:
    """The latest date any of `names` was done: instants read as the patient's local date,
    date-only facts (done elsewhere) as the calendar date they are, in every zone."""
    done = max(view.done_at(name) for name in names)
    days = [day for day in map(view.done_on, names) if day is not None]
    if done:
        days.append(local_date(to_datetime(done), zone))
    return max(days) if days else None


def _checkins(state: PatientState, where: Standing, today: date) -> list[Due]:
    view = state.view
    assert view.profile is not None
    zone = view.profile.time_zone
    result: list[Due] = []

    def add(item: str, why: CheckinReason, window: tuple[date, date, date], reason: str) -> None:
        earliest, due, overdue = window
        if today >= overdue:
            return
        rid = reminder_id(state.patient_id, item, due, ReminderKind.CHECKIN)
        result.append(
            Due(
                item,
                Category.CHECKIN,
                ReminderKind.CHECKIN,
                earliest,
                due,
                overdue,
                reason,
                checkins.SOURCE,
                "checkins",
                rid,
                checkin_reason=why,
            )
        )

    for order in view.orders:
        if order.completed:
            scan_day = local_date(to_datetime(order.completed), zone)
            add(
                f"checkin_result_{order.item}",
                CheckinReason.RESULT_PENDING,
                checkins.result_pending_window(scan_day),
                f"waiting for the result of {order.item}",
            )
        elif order.scheduled_for:
            scan_day = local_date(to_datetime(order.scheduled_for), zone)
            add(
                f"checkin_pre_scan_{order.item}",
                CheckinReason.PRE_SCAN,
                checkins.pre_scan_window(scan_day),
                f"the week before {order.item}",
            )
    if where.anchor is not None and where.status not in ("responding",):
        last = view.last_checkin
        last_day = local_date(to_datetime(last[0]), zone) if last else None
        periodic = checkins.next_periodic(where.anchor, today, last_day)
        if periodic is not None:
            due, overdue = periodic
            add(
                "checkin_periodic",
                CheckinReason.PERIODIC,
                (due, due, overdue),
                f"periodic check-in after treatment (from {where.anchor})",
            )
    return result


def checkin_alert(
    patient_id: str, digest: int, score: int, flags: int, raised: datetime
) -> CareTeamAlert:
    """The care-team alert of one check-in answer (`flags` bit 0: self-harm), by event digest.

    Also raised at once for an answer parked before its enrolment (`models.parking`): the
    same id, so the notifier sends it once.
    """
    if flags & 1:
        respond = raised + timedelta(minutes=checkins.SELF_HARM_RESPONSE_MINUTES)
        kind, severity = AlertKind.SELF_HARM, Severity.IMMEDIATE
        reason = "check-in reply mentions self-harm: contact the patient now"
    else:
        respond = raised + timedelta(days=checkins.HIGH_FEAR_RESPONSE_DAYS)
        kind, severity = AlertKind.HIGH_FEAR, Severity.HIGH
        reason = f"FCR-1r score {score} (>= {checkins.HIGH_FEAR_SCORE}): offer support"
    return CareTeamAlert(
        patient_id=patient_id,
        alert_id=alert_id(patient_id, kind, str(digest)),
        kind=kind,
        severity=severity,
        reason=reason,
        raised_at=raised,
        respond_by=respond,
    )


def _alerts(
    state: PatientState, items: list[Due], where: Standing, today: date, now: datetime
) -> list[CareTeamAlert]:
    view = state.view
    pid = state.patient_id
    alerts: list[CareTeamAlert] = []
    since = epoch_seconds(now) - ALERT_MEMORY_DAYS * DAY
    for digest, score, flags, at in view.alerts:
        if at < since:
            continue
        alerts.append(checkin_alert(pid, digest, score, flags, to_datetime(at)))
    relapse = view.molecular_relapse_at
    if relapse and relapse >= since:
        raised = to_datetime(relapse)
        alerts.append(
            CareTeamAlert(
                patient_id=pid,
                alert_id=alert_id(pid, AlertKind.MOLECULAR_RELAPSE, str(relapse)),
                kind=AlertKind.MOLECULAR_RELAPSE,
                severity=Severity.HIGH,
                reason="MRD positive in two consecutive samples after an MRD-negative result",
                raised_at=raised,
                respond_by=raised + timedelta(days=MOLECULAR_RELAPSE_RESPONSE_DAYS),
            )
        )
    for due in items:
        if due.kind is ReminderKind.DUE and today >= due.overdue:
            alerts.append(
                CareTeamAlert(
                    patient_id=pid,
                    alert_id=alert_id(pid, AlertKind.OVERDUE, f"{due.item}|{due.due}"),
                    kind=AlertKind.OVERDUE,
                    severity=Severity.ROUTINE,
                    item=due.item,
                    reason=f"{due.item} was due {due.due}, overdue since {due.overdue}",
                    raised_at=now,
                    respond_by=now + timedelta(days=OVERDUE_RESPONSE_DAYS),
                )
            )
    contact = _last_contact(view, where)
    if contact is not None and today >= add_months(contact, LOST_TO_FOLLOW_UP_MONTHS):
        alerts.append(
            CareTeamAlert(
                patient_id=pid,
                alert_id=alert_id(pid, AlertKind.LOST_TO_FOLLOW_UP, str(contact)),
                kind=AlertKind.LOST_TO_FOLLOW_UP,
                severity=Severity.ROUTINE,
                reason=f"no contact since {contact} ({LOST_TO_FOLLOW_UP_MONTHS} months)",
                raised_at=now,
                respond_by=now + timedelta(days=OVERDUE_RESPONSE_DAYS),
            )
        )
    return alerts


def _no_protocol(patient_id: str, site: str, catalog: Catalog, now: datetime) -> CareTeamAlert:
    """The one notice that a patient is enrolled but no protocol schedules anything for them:
    accepted and kept (every later event is folded), but no reminder will go out."""
    if catalog.covers(site):
        reason = f"no surveillance protocol applies to this {site} profile: no reminders are sent"
    else:
        reason = (
            f"no surveillance protocol for site {site!r} (protocols exist for "
            f"{', '.join(catalog.sites())}): no reminders are sent"
        )
    return CareTeamAlert(
        patient_id=patient_id,
        alert_id=alert_id(patient_id, AlertKind.NO_PROTOCOL, site),
        kind=AlertKind.NO_PROTOCOL,
        severity=Severity.ROUTINE,
        reason=reason,
        raised_at=now,
        respond_by=now + timedelta(days=OVERDUE_RESPONSE_DAYS),
    )


def _last_contact(view: View, where: Standing) -> date | None:
    """The last clinical contact of a patient in surveillance (the anchor if none since)."""
    if where.anchor is None or view.profile is None:
        return None
    if not view.last_contact:
        return where.anchor
    return max(where.anchor, local_date(to_datetime(view.last_contact), view.profile.time_zone))


def settle(
    state: PatientState, now: datetime, catalog: Catalog, known: Plan | None = None
) -> Settlement:
    """What to emit at `now`: new reminders and alerts once each, and cancellations.

    `state.emitted` remembers (id, item, due, overdue) of what is outstanding. An emitted
    reminder that is no longer wanted is cancelled (done, rescheduled, surveillance stopped),
    except a check-in whose window has simply passed: that one is forgotten quietly.

    `known`: the `Plan` of an earlier settlement of the same facts, to save recomputing it
    (ignored if it does not fit); the settlement carries the plan it used.
    """
    facts = _fitting(known, state, catalog)
    upcoming = forecast(state, now, catalog, facts)
    profile = state.view.profile
    zone = profile.time_zone if profile else "UTC"
    language = profile.language if profile else "en"
    today = local_date(now, zone)
    wanted: dict[str, tuple[str, int, int, Output | None]] = {}
    for due in upcoming.items:
        key = (due.item, due.due.toordinal(), due.overdue.toordinal())
        if due.kind is ReminderKind.DUE and today >= due.overdue:
            rid = reminder_id(state.patient_id, due.item, due.due, ReminderKind.OVERDUE)
            nudge = _reminder(state, due, ReminderKind.OVERDUE, rid, now, zone, language)
            wanted[rid] = (*key, nudge)
            wanted[due.reminder_id] = (*key, None)  # still outstanding; nothing new to send
        elif today >= due.earliest:
            reminder = _reminder(state, due, due.kind, due.reminder_id, now, zone, language)
            wanted[due.reminder_id] = (*key, reminder)
    for alert in upcoming.alerts:
        wanted[alert.alert_id] = (alert.kind.value, 0, 0, alert)
    emitted = {entry[0]: entry for entry in state.emitted}
    outputs = [o for rid, (*_, o) in wanted.items() if rid not in emitted and o is not None]
    for rid, (_, item, _due, overdue) in emitted.items():
        if rid in wanted or not rid.startswith("rem-"):
            continue
        if item.startswith("checkin") and today.toordinal() >= overdue:
            continue  # its window passed: nothing to cancel
        reason = _cancel_reason(upcoming, item)
        outputs.append(
            ReminderCancelled(
                patient_id=state.patient_id, reminder_id=rid, reason=reason, emitted_at=now
            )
        )
    kept = tuple(
        (rid, item, due, overdue)
        for rid, (item, due, overdue, output) in wanted.items()
        if rid in emitted or output is not None
    )
    new_state = state._replace(emitted=kept) if kept != state.emitted else state
    wake = _wake_at(state.view, upcoming, today, zone)
    return Settlement(new_state, outputs, wake, facts)


def _reminder(
    state: PatientState,
    due: Due,
    kind: ReminderKind,
    rid: str,
    now: datetime,
    zone: str,
    language: str,
) -> Reminder:
    return Reminder(
        patient_id=state.patient_id,
        reminder_id=rid,
        item=due.item,
        category=due.category,
        kind=kind,
        checkin_reason=due.checkin_reason,
        earliest=due.earliest,
        due=due.due,
        overdue=due.overdue,
        reason=due.reason,
        source=due.source,
        protocol=due.protocol,
        language=language,
        time_zone=zone,
        emitted_at=now,
    )


def _cancel_reason(plan: Forecast, item: str) -> str:
    if plan.standing.anchor is None and not item.startswith("checkin"):
        return f"surveillance paused: {plan.standing.status}"
    return "done, rescheduled or no longer due"


def _wake_at(view: View, plan: Forecast, today: date, zone: str) -> datetime | None:
    """The first day on which `settle` could emit something without a new event: a window
    opening or closing (a closed check-in window makes room for the next), or the day the
    patient counts as lost to follow-up. (A response is confirmed by an assessment, an event,
    never by time passing.)"""
    moments = [d for due in plan.items for d in (due.earliest, due.overdue) if d > today]
    contact = _last_contact(view, plan.standing)
    if contact is not None:
        moments.append(add_months(contact, LOST_TO_FOLLOW_UP_MONTHS))
    moments = [m for m in moments if m > today]
    if not moments:
        return None
    return start_of_day(min(moments), zone).astimezone(UTC)


__all__ = [
    "DAY",
    "Due",
    "Forecast",
    "Plan",
    "Settlement",
    "Standing",
    "due",
    "forecast",
    "lab_code_mapped",
    "plan",
    "settle",
    "standing",
]
