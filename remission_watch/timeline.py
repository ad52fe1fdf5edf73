"""The offline timeline: fold a JSONL file of events (no Kafka) and show where each patient is."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from models.clocks import Forecast, forecast, to_datetime
from models.dates import local_date, start_of_day
from models.events import Event
from models.outputs import Reminder, ReminderCancelled
from models.protocols import Catalog
from models.state import PatientState, UnknownPatient, evolve, explain_last_response
from remission_watch.event_file import BadLine, read_events


def parse_lines(
    lines: Iterable[str], until: datetime | None = None
) -> tuple[list[tuple[int, Event]], list[BadLine]]:
    """The good lines as `(line number, event)` (with `until`, those that occurred by then)."""
    events: list[tuple[int, Event]] = []
    bad: list[BadLine] = []
    for number, item in read_events(lines):
        if isinstance(item, BadLine):
            bad.append(item)
        elif until is None or item.occurred_at <= until:
            events.append((number, item))
    return events, bad


def fold_events(
    events: list[tuple[int, Event]],
) -> tuple[dict[str, PatientState], list[BadLine]]:
    """Fold numbered events into states (enrolments first, so order never matters)."""
    ordered = sorted(events, key=lambda pair: pair[1].type != "patient.enrolled")
    states: dict[str, PatientState] = {}
    bad: list[BadLine] = []
    for number, event in ordered:
        try:
            states[event.patient_id] = evolve(states.get(event.patient_id), event)
        except UnknownPatient as exc:
            bad.append(BadLine(number, str(exc)))
    return states, bad


def fold_lines(
    lines: Iterable[str], until: datetime | None = None
) -> tuple[dict[str, PatientState], list[BadLine]]:
    """Fold the good lines into states (enrolments first, so order never matters).

    With `until`, events that occurred after it are left out: the state as it was then.
    """
    events, bad = parse_lines(lines, until)
    states, unusable = fold_events(events)
    return states, sorted(bad + unusable, key=lambda b: b.line)


def describe(state: PatientState, plan: Forecast) -> dict[str, Any]:
    """One patient's timeline as JSON-ready data."""
    view = state.view
    zone = view.profile.time_zone if view.profile else "UTC"

    def day(seconds: int) -> str | None:
        if not seconds:
            return None
        return local_date(to_datetime(seconds), zone).isoformat()

    return {
        "patient_id": state.patient_id,
        "site": view.profile.site if view.profile else None,
        "status": plan.standing.status,
        "detail": plan.standing.detail,
        "protocol": plan.protocol,
        "anchor": plan.anchor.isoformat() if plan.anchor else None,
        "declared": {"status": view.declared[0], "on": day(view.declared[1])}
        if view.declared
        else None,
        "last_response": _last_response(state, day),
        "episodes": [
            {
                "number": e.number,
                "kind": e.kind,
                "started": day(e.started),
                "confirmed": day(e.confirmed),
                "ended": day(e.ended),
                "ended_by": e.ended_by or None,
                "basis": e.basis,
                "depth": e.depth,
            }
            for e in view.episodes
        ],
        "clocks": [{"item": name, "last_done": day(at)} for name, at in sorted(view.done_items())]
        + [{"item": name, "last_done": on.isoformat()} for name, on in view.done_day_items()],
        "reminders": [
            {
                "reminder_id": d.reminder_id,
                "item": d.item,
                "category": d.category.value,
                "kind": d.kind.value,
                "earliest": d.earliest.isoformat(),
                "due": d.due.isoformat(),
                "overdue": d.overdue.isoformat(),
                "reason": d.reason,
                "source": d.source,
                "protocol": d.protocol,
                "last_done": d.last_done.isoformat() if d.last_done else None,
            }
            for d in sorted(plan.items, key=lambda d: (d.due, d.item))
        ],
        "not_reminded": [{"what": w, "reason": r, "source": s} for w, r, s in plan.not_reminded],
        "unmapped_results": [
            {"loinc": code, "last": day(view.done_at(code))} for code in plan.unmapped
        ],
        "alerts": [
            {
                "alert_id": a.alert_id,
                "kind": a.kind.value,
                "severity": a.severity.value,
                "reason": a.reason,
                "item": a.item,
                "raised": a.raised_at.isoformat(),
                "respond_by": a.respond_by.isoformat(),
            }
            for a in plan.alerts
        ],
        "events": state.event_count,
    }


def _last_response(state: PatientState, day: Any) -> dict[str, Any] | None:
    last = state.view.last_evaluation
    evaluation = explain_last_response(state)
    if last is None or evaluation is None:
        return None
    system, category, response, at = last
    return {
        "system": system,
        "category": category,
        "response": response,
        "detail": evaluation.detail,
        "on": day(at),
    }


AT_A_DATE = "the end of that day in each patient's own time zone"


def day_end(day: date, zone: str) -> datetime:
    """The last instant of `day` in `zone` (the next local midnight, less a microsecond)."""
    return start_of_day(day + timedelta(days=1), zone) - timedelta(microseconds=1)


def latest_day_end(day: date) -> datetime:
    """The last instant of `day` anywhere: its end at UTC-12, the westernmost offset."""
    return datetime.combine(day + timedelta(days=1), time(12), tzinfo=UTC)


def timeline(
    lines: Iterable[str],
    at: datetime | date,
    catalog: Catalog,
    with_sends: bool = False,
    sends_since: datetime | None = None,
) -> dict[str, Any]:
    """The whole report: every patient at `at`, and the lines that could not be used.

    `at` an instant: everyone as of then. `at` a date: each patient as of the end of that day
    in the patient's own time zone (its events of that day count, and that day is "today"),
    so a patient in Los Angeles is not shown as of the evening before.

    With `with_sends`, also replay the events through `settle` on daily ticks and list, per
    patient, what the platform would have sent, cancelled and escalated, and when (from
    `sends_since` on, when given: the replay before it then costs one fold per patient).
    """
    bound = at if isinstance(at, datetime) else latest_day_end(at)
    events, bad = parse_lines(lines, until=bound)
    states, unusable = fold_events(events)
    moments = {pid: bound for pid in states}
    if not isinstance(at, datetime):
        events, states, moments = _each_in_own_day(at, events, states)
    bad = sorted(bad + unusable, key=lambda b: b.line)
    patients = [
        describe(s, forecast(s, moments[pid], catalog)) for pid, s in sorted(states.items())
    ]
    for patient in patients:
        for reminder in patient["reminders"]:
            reminder["label"] = item_label(catalog, reminder["protocol"], reminder["item"])
    used = [e for _, e in events if e.patient_id in states]
    _attach_treatments(patients, used, states)
    if with_sends:
        _attach_sends(patients, used, moments, catalog, sends_since)
        for patient in patients:
            shown = {r["item"]: r["label"] for r in patient["reminders"]}
            for sent in patient["sent"]:
                if sent["item"] not in shown and sent["what"] != "alert":
                    shown[sent["item"]] = item_label(catalog, patient["protocol"], sent["item"])
            patient["labels"] = shown
    return {
        "at": at.isoformat(),
        **({} if isinstance(at, datetime) else {"at_means": AT_A_DATE}),
        **({"sends_since": sends_since.isoformat()} if with_sends and sends_since else {}),
        "patients": patients,
        "bad_lines": [{"line": b.line, "reason": b.reason} for b in bad],
    }


def _each_in_own_day(
    day: date, events: list[tuple[int, Event]], states: dict[str, PatientState]
) -> tuple[list[tuple[int, Event]], dict[str, PatientState], dict[str, datetime]]:
    """Events, states and the instant of each patient cut at the end of `day` in its zone.

    `events` and `states` went up to the latest end of `day` anywhere; the few patients with
    events after their own end of day are folded again without them (their zone is read from
    that first fold)."""
    moments = {
        pid: day_end(day, s.view.profile.time_zone if s.view.profile else "UTC")
        for pid, s in states.items()
    }
    late = {
        e.patient_id for _, e in events if e.occurred_at > moments.get(e.patient_id, e.occurred_at)
    }
    if not late:
        return events, states, moments
    kept = [
        (n, e)
        for n, e in events
        if e.patient_id not in late or e.occurred_at <= moments[e.patient_id]
    ]
    again, _ = fold_events([(n, e) for n, e in kept if e.patient_id in late])
    states = {
        pid: again[pid] if pid in late else s
        for pid, s in states.items()
        if pid not in late or pid in again
    }
    return kept, states, {pid: moments[pid] for pid in states}


def item_label(catalog: Catalog, protocol_id: str | None, item: str) -> str:
    """The protocol's own words for an item ("CT chest, abdomen and pelvis"), or plain words."""
    for prefix, words in CHECKIN_LABELS.items():
        if item.startswith(prefix):
            rest = item.removeprefix(prefix)
            return words.format(item_label(catalog, protocol_id, rest).lower()) if rest else words
    protocol = catalog.get(protocol_id.split("@")[0]) if protocol_id else None
    for rule in protocol.items if protocol else ():
        if rule.id == item:
            return str(rule.label)
    return item.replace("_", " ").capitalize()


CHECKIN_LABELS = {
    "checkin_periodic": "Check-in: how the patient is coping",
    "checkin_result_": "Check-in while the result of {} is awaited",
    "checkin_pre_scan_": "Check-in the week before {}",
}


def _attach_treatments(
    patients: list[dict[str, Any]], events: list[Event], states: dict[str, PatientState]
) -> None:
    """Each patient's treatments (from, to or None while ongoing), local dates."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for event in sorted(events, key=lambda e: e.occurred_at):
        if event.type not in ("treatment.started", "treatment.completed"):
            continue
        profile = states[event.patient_id].view.profile
        day = local_date(event.occurred_at, profile.time_zone if profile else "UTC").isoformat()
        mine = found.setdefault(event.patient_id, {})
        treatment_id = getattr(event, "treatment_id", "")
        if event.type == "treatment.started":
            role = getattr(event, "role", None)
            what = str(getattr(event, "modality", "treatment"))
            if role is not None and str(role) != "primary":
                what += f" ({role})"
            mine[treatment_id] = {"what": what.replace("_", " "), "started": day, "ended": None}
        elif treatment_id in mine:
            mine[treatment_id]["ended"] = day
    for patient in patients:
        patient["treatments"] = list(found.get(patient["patient_id"], {}).values())


def _attach_sends(
    patients: list[dict[str, Any]],
    events: list[Event],
    moments: dict[str, datetime],
    catalog: Catalog,
    since: datetime | None,
) -> None:
    from remission_watch.simulate import simulate

    until = max(moments.values(), default=datetime.now(UTC))
    _, replayed = simulate(events, until, catalog, since=since)
    emitted = [e for e in replayed if e.at <= moments[e.output.patient_id]]  # each its own day
    items: dict[str, str] = {}
    sends: dict[str, list[dict[str, str]]] = {}
    for entry in emitted:
        out = entry.output
        row: dict[str, str] = {"on": entry.at.date().isoformat()}
        if isinstance(out, Reminder):
            items[out.reminder_id] = out.item
            row |= {"item": out.item, "what": "sent", "kind": out.kind.value}
        elif isinstance(out, ReminderCancelled):
            row |= {
                "item": items.get(out.reminder_id, "?"),
                "what": "cancelled",
                "kind": out.reason,
            }
        else:
            row |= {
                "item": out.item or "remission",
                "what": "alert",
                "kind": out.kind.value,
                "reason": out.reason,
            }
        sends.setdefault(out.patient_id, []).append(row)
    for patient in patients:
        patient["sent"] = sends.get(patient["patient_id"], [])


def render_text(report: dict[str, Any]) -> str:
    """The report as a readable table for a terminal."""
    means = f" ({report['at_means']})" if report.get("at_means") else ""
    out = [f"Timeline at {report['at']}{means}"]
    for p in report["patients"]:
        out.append("")
        out.append(f"{p['patient_id']}  {p['site']}  {p['status']}  ({p['detail']})")
        out.append(f"  protocol: {p['protocol'] or '-'}   anchor: {p['anchor'] or '-'}")
        for e in p["episodes"]:
            end = f" -> {e['ended']} ({e['ended_by']})" if e["ended"] else " (ongoing)"
            out.append(
                f"  episode {e['number']}: {e['kind']} from {e['started']}{end}  [{e['basis']}]"
            )
        if p["reminders"]:
            out.append(f"  {'item':<28} {'kind':<8} {'earliest':<10} {'due':<10} {'overdue':<10}")
            for r in p["reminders"]:
                out.append(
                    f"  {r['item']:<28} {r['kind']:<8} {r['earliest']:<10} {r['due']:<10} "
                    f"{r['overdue']:<10}  {r['reason']}"
                )
        for a in p["alerts"]:
            out.append(f"  ALERT {a['severity']}: {a['kind']}: {a['reason']}")
        for u in p.get("unmapped_results", ()):
            out.append(
                f"  UNMAPPED lab result: LOINC {u['loinc']} (last {u['last']}) is in no marker "
                "value set: it satisfied nothing"
            )
        for n in p["not_reminded"]:
            out.append(f"  not reminded: {n['what']} ({n['reason']})")
    if report["bad_lines"]:
        out.append("")
        for b in report["bad_lines"]:
            out.append(f"line {b['line']}: skipped: {b['reason']}")
    return "\n".join(out)


def dumps(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)
