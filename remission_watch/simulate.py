"""A what-if run without Kafka: feed a patient's events and daily ticks through the same core."""

from __future__ import annotations

import math
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
    since: datetime | None = None,
) -> tuple[dict[str, PatientState], list[Emitted]]:
    """Apply events in time order with a tick every `step`, settling after each; returns the
    final states and everything that would have been emitted, with when.

    With `since`, only what would have been emitted after the first tick at or after it is
    returned, and the time before it costs one fold per patient: the patient is settled once
    on that tick (what it emits then was outstanding already and is not returned).

    Ticks fall on one grid from the first event on. A patient is settled only on the ticks
    where something can change (an event, or the `wake_at` its last settlement named), as the
    streams due index does: the same outputs as settling everyone on every tick, at a cost of
    what happens rather than of patients times days.
    """
    ordered = sorted(events, key=lambda e: (e.occurred_at, e.type != "patient.enrolled"))
    if not ordered:
        return {}, []
    origin = ordered[0].occurred_at
    by_patient: dict[str, list[Event]] = {}
    for event in ordered:
        by_patient.setdefault(event.patient_id, []).append(event)
    states: dict[str, PatientState] = {}
    emitted: list[tuple[datetime, int, Emitted]] = []
    for rank, (pid, history) in enumerate(by_patient.items()):
        state, outputs = _patient(history, until, catalog, origin, step, since)
        if state is not None:
            states[pid] = state
        emitted += [(e.at, rank, e) for e in outputs]
    emitted.sort(key=lambda entry: entry[:2])
    return states, [entry[2] for entry in emitted]


def _patient(
    history: list[Event],
    until: datetime,
    catalog: Catalog,
    origin: datetime,
    step: timedelta,
    since: datetime | None,
) -> tuple[PatientState | None, list[Emitted]]:
    def tick_at_or_after(moment: datetime) -> datetime:
        return origin + step * max(0, math.ceil((moment - origin) / step))

    state: PatientState | None = None
    emitted: list[Emitted] = []
    index = 0
    tick = tick_at_or_after(history[0].occurred_at)
    primed = since is not None and tick_at_or_after(since) > tick
    if primed:  # fold what came before `since` without settling on every wake-up
        tick = tick_at_or_after(since)
        while index < len(history) and history[index].occurred_at <= tick:
            state = evolve(state, history[index])
            index += 1
    while tick <= until:
        while index < len(history) and history[index].occurred_at <= tick:
            state = evolve(state, history[index])
            index += 1
        assert state is not None  # the first tick is at or after the first event
        result = settle(state, tick, catalog)
        state = result.state
        if not primed:  # a priming settle emits what was outstanding already
            emitted += [Emitted(tick, output) for output in result.outputs]
        primed = False
        wakes = [result.wake_at] if result.wake_at is not None else []
        if index < len(history):
            wakes.append(history[index].occurred_at)
        if not wakes:
            break
        tick = max(tick + step, tick_at_or_after(min(wakes)))
    return state, emitted
