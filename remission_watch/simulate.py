"""A what-if run without Kafka: feed a patient's events and daily ticks through the same core."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from models.clocks import settle
from models.events import Event
from models.outputs import Output
from models.protocols import Catalog
from models.state import PatientState, evolve


@dataclass(frozen=True)
class Emitted:
    at: datetime
    output: Output


def simulate(
    events: Iterable[Event],
    until: datetime,
    catalog: Catalog,
    step: timedelta = timedelta(days=1),
) -> tuple[dict[str, PatientState], list[Emitted]]:
    """Apply events in time order with a tick every `step`, settling after each; returns the
    final states and everything that would have been emitted, with when."""
    ordered = sorted(events, key=lambda e: (e.occurred_at, e.type != "patient.enrolled"))
    if not ordered:
        return {}, []
    states: dict[str, PatientState] = {}
    emitted: list[Emitted] = []
    tick = ordered[0].occurred_at
    index = 0
    while tick <= until:
        while index < len(ordered) and ordered[index].occurred_at <= tick:
            event = ordered[index]
            states[event.patient_id] = evolve(states.get(event.patient_id), event)
            index += 1
        for pid, state in states.items():
            result = settle(state, tick, catalog)
            states[pid] = result.state
            emitted += [Emitted(tick, output) for output in result.outputs]
        tick += step
    return states, emitted
