"""Patients for the protocol tests: events on calendar dates, a forecast on a date, and a walk
that does every item on its due date for five years and reports when each one fell due."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import count
from typing import Any

from models.clocks import Due, Forecast, forecast, settle
from models.dates import add_months, months_between
from models.events import Event, parse_event
from models.outputs import Category, ReminderKind
from models.protocols import Catalog
from models.state import PatientState, evolve
from remission_watch.protocol_files import load_builtin_catalog

_IDS = count(1)


CATALOG = load_builtin_catalog()


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12, 0), tzinfo=UTC)


def event(kind: str, on: date | datetime, patient: str = "P1", **fields: Any) -> Event:
    at = on if isinstance(on, datetime) else noon(on)
    return parse_event(
        {
            "event_id": f"e{next(_IDS)}",
            "patient_id": patient,
            "type": kind,
            "occurred_at": at.isoformat(),
            "recorded_at": at.isoformat(),
            "source": "test",
            **fields,
        }
    )


@dataclass
class Patient:
    """One patient's events, folded as they are added."""

    state: PatientState | None = None
    events: list[Event] = field(default_factory=list)

    def add(self, kind: str, on: date | datetime, **fields: Any) -> Patient:
        new = event(kind, on, **fields)
        self.events.append(new)
        self.state = evolve(self.state, new)
        return self

    def enrol(self, on: date, **fields: Any) -> Patient:
        return self.add("patient.enrolled", on, **fields)

    def treated(self, start: date, end: date, modality: str = "surgery", **fields: Any) -> Patient:
        treatment = f"t{next(_IDS)}"
        self.add("treatment.started", start, treatment_id=treatment, modality=modality, **fields)
        return self.add("treatment.completed", end, treatment_id=treatment, modality=modality)

    def forecast(self, on: date, catalog: Catalog) -> Forecast:
        assert self.state is not None
        return forecast(self.state, noon(on), catalog)

    def items(self, on: date, catalog: Catalog) -> dict[str, Due]:
        return {d.item: d for d in self.forecast(on, catalog).items if d.kind is ReminderKind.DUE}

    def settle(self, on: date, catalog: Catalog) -> list[Any]:
        assert self.state is not None
        settlement = settle(self.state, noon(on), catalog)
        self.state = settlement.state
        return settlement.outputs


def do(patient: Patient, due: Due, on: date, catalog: Catalog) -> None:
    """Record `due`'s item as done on `on` with the event a real feed would send."""
    protocol = catalog[due.protocol.split("@")[0]]
    rule = protocol.rule(due.item)
    assert rule is not None
    codes = catalog.rule_codes(protocol, rule)
    if due.category is Category.LAB and codes:
        patient.add("lab.resulted", on, order_id=f"o{next(_IDS)}", loinc=codes[0], value=1.0)
    elif due.category is Category.SCAN:
        patient.add("scan.completed", on, order_id=f"o{next(_IDS)}", item=due.item)
    else:
        patient.add("visit.completed", on, item=due.item)


def walk_dates(
    patient: Patient, catalog: Catalog, years: int = 5
) -> tuple[date, dict[str, list[date]]]:
    """Do every item on its due date until `years` after the anchor; return the anchor and,
    per item, the dates it fell due (and was done)."""
    anchor = _anchor(patient, catalog)
    end = add_months(anchor, 12 * years)
    done: dict[str, list[date]] = {}
    for _ in _bounded():
        plan = patient.forecast(anchor, catalog)
        assert plan.anchor == anchor, "the anchor moved during the walk"
        items = [d for d in plan.items if d.kind is ReminderKind.DUE and d.due <= end]
        if not items:
            return anchor, done
        first = min(items, key=lambda d: (d.due, d.item))
        done.setdefault(first.item, []).append(first.due)
        do(patient, first, first.due, catalog)
    raise AssertionError("the walk did not end")


def walk(patient: Patient, catalog: Catalog, years: int = 5) -> dict[str, list[int]]:
    """`walk_dates` as whole months after the anchor (the anchor's day of the month must be
    28 or less, so that no month end shifts a date)."""
    anchor, dates = walk_dates(patient, catalog, years)
    assert anchor.day <= 28
    months: dict[str, list[int]] = {}
    for item, days in dates.items():
        for day in days:
            count = months_between(anchor, day)
            assert add_months(anchor, count) == day, f"{item} due {day}: not whole months"
            months.setdefault(item, []).append(count)
    return months


def _anchor(patient: Patient, catalog: Catalog) -> date:
    assert patient.state is not None
    last = max(e.occurred_at for e in patient.events).date()
    plan = patient.forecast(last + timedelta(days=1), catalog)
    assert plan.anchor is not None, f"no anchor: {plan.standing}"
    return plan.anchor


def _bounded() -> Iterator[int]:
    yield from range(1000)


def every(start: int, stop: int, step: int) -> list[int]:
    """Months start, start+step, ... up to and including stop."""
    return list(range(start, stop + 1, step))
