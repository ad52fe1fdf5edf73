"""Forecasts and settlement: what is due, what is emitted, what is cancelled."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.clocks import forecast, plan, settle
from models.events import Event, parse_event
from models.outputs import AlertKind, CheckinReason, ReminderCancelled, ReminderKind, Severity
from models.protocols import Catalog
from models.state import PatientState, evolve
from remission_watch.cohort import patient_history
from remission_watch.protocol_files import load_builtin_catalog
from tests.unit.core.conftest import T0, EventFactory

ZONE = "America/New_York"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_builtin_catalog()


def fold(events: list[Event]) -> PatientState:
    state = None
    for event in events:
        state = evolve(state, event)
    assert state is not None
    return state


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def breast(ev: EventFactory, *flags: str) -> list[Event]:
    """ER+ early breast cancer: surgery and radiotherapy end on day 100."""
    return [
        ev(
            "b1",
            0,
            "patient.enrolled",
            site="breast",
            time_zone=ZONE,
            stage="II",
            receptors={"er": "positive", "her2": "negative"},
            flags=list(flags),
        ),
        ev(
            "b2",
            10,
            "treatment.started",
            treatment_id="rt",
            modality="radiotherapy",
            role="adjuvant",
        ),
        ev("b3", 100, "treatment.completed", treatment_id="rt", modality="radiotherapy"),
    ]


def scheduled_mammogram(ev: EventFactory, on_day: int) -> Event:
    """A mammogram booked on day 180 for `on_day`."""
    when = at(on_day).isoformat()
    return ev("s1", 180, "scan.scheduled", order_id="o1", item="mammogram", scheduled_for=when)


def items(plan) -> dict[str, object]:
    return {d.item: d for d in plan.items}


def test_a_breast_survivor_is_due_a_visit_and_a_mammogram(ev, catalog) -> None:
    plan = forecast(fold(breast(ev)), at(110), catalog)
    assert plan.protocol == "breast-asco-er-positive@2012.1"
    assert plan.standing.status == "post_treatment"
    due = items(plan)
    end = date(2024, 4, 17)  # day 100 after T0, local date in New York
    assert due["history_physical"].due == date(2024, 7, 17)  # 3 months after the end
    assert due["history_physical"].overdue > date(2024, 10, 17)  # overdue after 6 months
    # ASCO 2006/2012: not before RT end + 6 months (2024-10-17) nor before the diagnostic
    # mammogram + 1 year; enrolment (day 0, 2024-01-08) is that mammogram's latest date.
    assert due["mammogram"].due == date(2025, 1, 8)
    assert due["mammogram"].earliest == date(2025, 1, 8)
    assert plan.standing.anchor == end
    assert "ASCO" in due["mammogram"].source
    assert any("Tumour markers" in what for what, _, _ in plan.not_reminded)


def test_no_mammogram_after_bilateral_mastectomy(ev, catalog) -> None:
    due = items(forecast(fold(breast(ev, "bilateral_mastectomy")), at(110), catalog))
    assert "mammogram" not in due and "history_physical" in due


def test_a_due_reminder_is_emitted_once_and_cancelled_when_done(ev, catalog) -> None:
    state = fold(breast(ev))
    first = settle(state, at(185), catalog)  # 2024-07-10: inside the visit's window
    reminders = [o for o in first.outputs if o.type == "reminder.due"]
    assert [(r.item, r.kind) for r in reminders] == [("history_physical", ReminderKind.DUE)]
    assert reminders[0].time_zone == ZONE and reminders[0].language == "en"
    again = settle(first.state, at(186), catalog)
    assert again.outputs == []  # a redelivered tick emits nothing new
    visited = evolve(again.state, ev("v1", 187, "visit.completed"))
    after = settle(visited, at(188), catalog)
    cancelled = [o for o in after.outputs if isinstance(o, ReminderCancelled)]
    assert [c.reminder_id for c in cancelled] == [reminders[0].reminder_id]


def test_an_overdue_item_nudges_the_patient_and_alerts_the_care_team(ev, catalog) -> None:
    state = fold(breast(ev, "bilateral_mastectomy"))
    done = settle(state, at(185), catalog).state
    late = settle(done, at(300), catalog)  # past the 6-month overdue date
    kinds = {(o.type, getattr(o, "kind", None)) for o in late.outputs}
    assert ("reminder.due", ReminderKind.OVERDUE) in kinds
    assert ("alert.raised", AlertKind.OVERDUE) in kinds
    assert settle(late.state, at(301), catalog).outputs == []


def test_recurrence_cancels_outstanding_reminders(ev, catalog) -> None:
    state = settle(fold(breast(ev)), at(185), catalog).state
    relapsed = evolve(state, ev("r1", 190, "status.declared", status="recurrence"))
    out = settle(relapsed, at(191), catalog)
    assert out.outputs and all(isinstance(o, ReminderCancelled) for o in out.outputs)
    assert "paused" in out.outputs[0].reason
    assert forecast(relapsed, at(191), catalog).standing.status == "active_disease"


def test_death_stops_everything(ev, catalog) -> None:
    state = settle(fold(breast(ev)), at(185), catalog).state
    gone = evolve(state, ev("d1", 186, "patient.deceased"))
    out = settle(gone, at(187), catalog)
    assert [o.type for o in out.outputs] == ["reminder.cancelled"]
    assert forecast(gone, at(400), catalog).items == ()


@pytest.mark.parametrize(
    ("score", "self_harm", "expected"),
    [
        (4, False, None),
        (5, False, (AlertKind.HIGH_FEAR, Severity.HIGH)),
        (0, True, (AlertKind.SELF_HARM, Severity.IMMEDIATE)),
    ],
)
def test_checkin_answers_escalate(ev, catalog, score, self_harm, expected) -> None:
    state = fold([*breast(ev), ev("c1", 150, "checkin.answered", score=score, self_harm=self_harm)])
    alerts = [o for o in settle(state, at(150.5), catalog).outputs if o.type == "alert.raised"]
    if expected is None:
        assert alerts == []
    else:
        assert [(a.kind, a.severity) for a in alerts] == [expected]
        limit = timedelta(hours=1) if self_harm else timedelta(days=2)
        assert alerts[0].respond_by - alerts[0].raised_at == limit


def test_checkins_before_a_scan_and_while_the_result_is_pending(ev, catalog) -> None:
    scan_day = at(200)
    state = fold(
        [
            *breast(ev),
            ev(
                "s1",
                180,
                "scan.scheduled",
                order_id="o1",
                item="mammogram",
                scheduled_for=scan_day.isoformat(),
            ),
        ]
    )
    before = items(forecast(state, at(195), catalog))
    pre = before["checkin_pre_scan_mammogram"]
    assert pre.kind is ReminderKind.CHECKIN
    assert pre.earliest == date(2024, 7, 19) and pre.overdue == date(2024, 7, 26)
    done = evolve(state, ev("s2", 200, "scan.completed", order_id="o1", item="mammogram"))
    waiting = items(forecast(done, at(202), catalog))
    assert "checkin_result_mammogram" in waiting and "checkin_pre_scan_mammogram" not in waiting
    resulted = evolve(
        done,
        ev(
            "s3",
            203,
            "scan.resulted",
            order_id="o1",
            item="mammogram",
            finding="no_evidence_of_disease",
        ),
    )
    assert "checkin_result_mammogram" not in items(forecast(resulted, at(204), catalog))


def test_clinician_overrides(ev, catalog) -> None:
    base = breast(ev)
    postponed = fold(
        [
            *base,
            ev(
                "o1",
                120,
                "override.recorded",
                item="history_physical",
                action="postpone",
                until="2024-09-01",
            ),
        ]
    )
    assert items(forecast(postponed, at(130), catalog))["history_physical"].due == date(2024, 9, 1)
    stopped = fold(
        [*base, ev("o2", 120, "override.recorded", item="mammogram", action="discontinue")]
    )
    assert "mammogram" not in items(forecast(stopped, at(130), catalog))
    resumed = fold(
        [
            *base,
            ev("o2", 120, "override.recorded", item="mammogram", action="discontinue"),
            ev("o3", 121, "override.recorded", item="mammogram", action="resume"),
        ]
    )
    assert "mammogram" in items(forecast(resumed, at(130), catalog))
    elsewhere = fold(
        [
            *base,
            ev(
                "o4",
                300,
                "override.recorded",
                item="mammogram",
                action="done_elsewhere",
                done_on="2024-11-01",
            ),
        ]
    )
    assert items(forecast(elsewhere, at(310), catalog))["mammogram"].due == date(2025, 11, 1)


def test_wake_at_is_the_start_of_the_earliest_day_in_the_patients_zone(ev, catalog) -> None:
    out = settle(fold(breast(ev)), at(110), catalog)
    assert out.outputs == []
    assert out.wake_at is not None
    local = out.wake_at.astimezone(__import__("zoneinfo").ZoneInfo(ZONE))
    assert (local.hour, local.minute) == (0, 0)
    plan = forecast(out.state, at(110), catalog)
    assert local.date() == min(d.earliest for d in plan.items)
    assert local.date() == items(plan)["checkin_periodic"].earliest  # 1 month after treatment
    assert settle(out.state, out.wake_at - timedelta(seconds=1), catalog).outputs == []
    assert settle(out.state, out.wake_at, catalog).outputs != []


def test_lost_to_follow_up_after_fifteen_months_without_contact(ev, catalog) -> None:
    state = fold(breast(ev))
    at_14 = forecast(state, at(100 + 14 * 30), catalog)
    at_16 = forecast(state, at(100 + 16 * 30), catalog)
    assert AlertKind.LOST_TO_FOLLOW_UP not in {a.kind for a in at_14.alerts}
    assert AlertKind.LOST_TO_FOLLOW_UP in {a.kind for a in at_16.alerts}


def test_the_patients_local_day_decides_the_clock(ev, catalog) -> None:
    # Treatment ends at 02:00 UTC on 18 April: still 17 April in New York.
    events = [
        *breast(ev)[:2],
        ev("b3", 100.7083, "treatment.completed", treatment_id="rt", modality="radiotherapy"),
    ]
    late_utc = datetime(2024, 4, 18, 2, 0, tzinfo=UTC)
    assert abs(events[-1].occurred_at - late_utc) < timedelta(minutes=1)
    plan = forecast(fold(events), at(110), catalog)
    assert plan.standing.anchor == date(2024, 4, 17)


def test_a_checkin_whose_window_passed_is_forgotten_not_cancelled(ev, catalog) -> None:
    state = fold(breast(ev))
    sent = settle(state, at(135), catalog)  # the 1-month periodic check-in window is open
    assert [o.item for o in sent.outputs if o.type == "reminder.due"] == ["checkin_periodic"]
    later = settle(sent.state, at(160), catalog)  # its window closed on its own
    assert [o for o in later.outputs if o.type == "reminder.cancelled"] == []
    assert all(entry[1] != "checkin_periodic" or entry[2] > 0 for entry in later.state.emitted)


def test_a_result_pending_checkin_is_cancelled_when_the_result_arrives(ev, catalog) -> None:
    state = fold(
        [
            *breast(ev),
            scheduled_mammogram(ev, on_day=190),
            ev("s2", 190, "scan.completed", order_id="o1", item="mammogram"),
        ]
    )
    first = settle(state, at(191.5), catalog)
    pending = [
        o
        for o in first.outputs
        if o.type == "reminder.due" and o.item == "checkin_result_mammogram"
    ]
    assert len(pending) == 1
    resulted = evolve(
        first.state,
        ev(
            "s3",
            192,
            "scan.resulted",
            order_id="o1",
            item="mammogram",
            finding="no_evidence_of_disease",
        ),
    )
    out = settle(resulted, at(192.5), catalog)
    assert [o.reminder_id for o in out.outputs if o.type == "reminder.cancelled"] == [
        pending[0].reminder_id
    ]


def test_checkin_reminders_say_why_they_ask(ev, catalog) -> None:
    state = fold(
        [
            *breast(ev),
            scheduled_mammogram(ev, on_day=200),
        ]
    )
    out = settle(state, at(195), catalog).outputs
    reasons = {o.item: o.checkin_reason for o in out if o.type == "reminder.due"}
    assert reasons["checkin_pre_scan_mammogram"] == CheckinReason.PRE_SCAN


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 5_000), offset=st.integers(0, 2_000), data=st.data())
def test_nothing_comes_due_before_wake_at(catalog, seed, offset, data) -> None:
    """The agent settles a patient only at wake_at: nothing may come due before it."""
    raw = patient_history("W1", seed, datetime(2022, 1, 3, 9, tzinfo=UTC), 20)
    state = fold([parse_event(r) for r in raw])
    now = datetime(2022, 1, 3, 9, tzinfo=UTC) + timedelta(days=offset)
    settled = settle(state, now, catalog)
    horizon = settled.wake_at or now + timedelta(days=1100)
    span = (horizon - now).total_seconds()
    if span <= 1:
        return
    seconds = data.draw(st.floats(min_value=1, max_value=span - 1))
    between = now + timedelta(seconds=seconds)
    assert settle(settled.state, between, catalog).outputs == []


def test_due_lists_what_has_opened_by_now(ev, catalog) -> None:
    from models.clocks import due

    state = fold(breast(ev))
    assert [d.item for d in due(state, at(110), catalog)] == []
    opened = due(state, at(185), catalog)  # 2024-07-10: the visit's window opened on 07-03
    assert "history_physical" in [d.item for d in opened]
    assert all(d.earliest <= date(2024, 7, 10) for d in opened)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 5_000),
    cut=st.integers(1, 19),
    first=st.integers(0, 2_000),
    later=st.integers(0, 900),
)
def test_a_kept_plan_settles_exactly_as_a_fresh_one(catalog, seed, cut, first, later) -> None:
    """The agent hands `settle` the plan of the patient's last settlement: the outcome must
    be the one computed from scratch, at any later instant, and a plan of other facts (an
    event came since) must be ignored, never used."""
    raw = patient_history("K1", seed, datetime(2022, 1, 3, 9, tzinfo=UTC), 20)
    events = [parse_event(r) for r in raw]
    earlier, state = fold(events[:cut]), fold(events)
    start = datetime(2022, 1, 3, 9, tzinfo=UTC) + timedelta(days=first)
    settled = settle(state, start, catalog)
    assert settled.plan is not None and settled.plan.fits(settled.state, catalog)
    now = start + timedelta(days=later, hours=later % 24)

    fresh = settle(settled.state, now, catalog)
    for kept in (settled.plan, plan(earlier, catalog), plan(state, load_builtin_catalog())):
        again = settle(settled.state, now, catalog, kept)
        assert (again.state, again.outputs, again.wake_at) == (
            fresh.state,
            fresh.outputs,
            fresh.wake_at,
        )
        assert forecast(settled.state, now, catalog, kept) == forecast(settled.state, now, catalog)
