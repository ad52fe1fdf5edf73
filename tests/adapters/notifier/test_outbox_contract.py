"""SqlOutbox contract: the same cases on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

from notifier_factories import cancellation, reminder
from sqlalchemy import Engine

from models.outputs import AlertKind, CareTeamAlert, Severity, alert_id
from notifier.clock import FakeClock
from notifier.outbox import Finish, SqlOutbox

LEASE = timedelta(minutes=5)


def test_recording_is_idempotent_on_reminder_id(engine: Engine, clock: FakeClock) -> None:
    outbox = SqlOutbox(engine)
    first = outbox.record([reminder()], clock())
    again = outbox.record([reminder(), reminder()], clock())
    assert len(first.recorded) == 1
    assert again.recorded == [] and again.duplicates == 1
    assert len(outbox.deliveries_for("p-1")) == 1


def test_batch_with_repeats_inside_it(engine: Engine, clock: FakeClock) -> None:
    outbox = SqlOutbox(engine)
    batch = [reminder(patient_id=f"p-{i % 50}", item=f"item_{i % 7}") for i in range(500)]
    result = outbox.record(batch, clock())
    assert len(result.recorded) == len({(r.patient_id, r.item) for r in batch})


def test_cancellation_after_reminder_stops_it(engine: Engine, clock: FakeClock) -> None:
    outbox = SqlOutbox(engine)
    r = reminder()
    outbox.record([r], clock())
    assert outbox.record([cancellation(r)], clock()).cancelled == [r.reminder_id]
    assert outbox.claim_due(clock(), 10, "w-1", LEASE) == []
    (row,) = outbox.deliveries_for("p-1")
    assert row.status == "cancelled" and "done elsewhere" in (row.status_reason or "")


def test_cancellation_before_reminder_is_remembered(engine: Engine, clock: FakeClock) -> None:
    outbox = SqlOutbox(engine)
    r = reminder()
    outbox.record([cancellation(r)], clock())
    late = outbox.record([r], clock())
    assert late.recorded == []
    assert outbox.claim_due(clock(), 10, "w-1", LEASE) == []
    (row,) = outbox.deliveries_for("p-1")
    assert row.status == "cancelled" and row.payload is not None  # kept for the "why" view
    assert any("after its cancellation" in a.reason for a in outbox.audit_for("p-1"))


def test_many_cancellations_in_one_batch(engine: Engine, clock: FakeClock) -> None:
    outbox = SqlOutbox(engine)
    seen = [reminder(item=f"a_{n}") for n in range(3)]
    unseen = [reminder(item=f"b_{n}") for n in range(3)]
    outbox.record(seen, clock())
    result = outbox.record([cancellation(r) for r in seen + unseen], clock())
    assert sorted(result.cancelled) == sorted(r.reminder_id for r in seen + unseen)
    assert {d.status for d in outbox.deliveries_for("p-1")} == {"cancelled"}


def test_cancellation_after_send_changes_nothing(engine: Engine, clock: FakeClock) -> None:
    outbox = SqlOutbox(engine)
    r = reminder()
    outbox.record([r], clock())
    (claimed,) = outbox.claim_due(clock(), 10, "w-1", LEASE)
    outbox.finish(claimed, Finish("sent", "ok", attempted=True, channel="sms"), clock())
    outbox.record([cancellation(r)], clock())
    (row,) = outbox.deliveries_for("p-1")
    assert row.status == "sent"
    assert any(a.action == "cancel_too_late" for a in outbox.audit_for("p-1"))


def test_claim_leases_and_other_workers_skip_it(engine: Engine, clock: FakeClock) -> None:
    outbox = SqlOutbox(engine)
    outbox.record([reminder(item=f"i_{n}") for n in range(5)], clock())
    mine = outbox.claim_due(clock(), 3, "w-1", LEASE)
    theirs = outbox.claim_due(clock(), 10, "w-2", LEASE)
    assert len(mine) == 3 and len(theirs) == 2
    assert not {c.id for c in mine} & {c.id for c in theirs}


def test_expired_lease_is_reclaimed_and_flagged(engine: Engine, clock: FakeClock) -> None:
    outbox = SqlOutbox(engine)
    outbox.record([reminder()], clock())
    (dead,) = outbox.claim_due(clock(), 1, "w-dead", LEASE)
    assert outbox.claim_due(clock(), 1, "w-2", LEASE) == []
    clock.advance(LEASE + timedelta(seconds=1))
    (again,) = outbox.claim_due(clock(), 1, "w-2", LEASE)
    assert again.was_stale and again.reminder_id == dead.reminder_id
    # the dead worker's late finish is refused: the lease is no longer its own
    assert not outbox.finish(dead, Finish("sent", "late"), clock())
    assert outbox.finish(again, Finish("sent", "ok", attempted=True), clock())


def test_deferred_rows_wait_until_their_time(engine: Engine, clock: FakeClock) -> None:
    outbox = SqlOutbox(engine)
    outbox.record([reminder()], clock())
    (claimed,) = outbox.claim_due(clock(), 1, "w-1", LEASE)
    later = clock() + timedelta(hours=3)
    outbox.finish(claimed, Finish("deferred", "quiet hours", later), clock())
    assert outbox.claim_due(clock(), 1, "w-1", LEASE) == []
    clock.advance(timedelta(hours=3))
    (again,) = outbox.claim_due(clock(), 1, "w-1", LEASE)
    assert again.attempts == 0  # a deferral is not an attempt


def test_finish_records_results_and_sms_history(engine: Engine, clock: FakeClock) -> None:
    outbox = SqlOutbox(engine)
    outbox.record([reminder()], clock())
    (claimed,) = outbox.claim_due(clock(), 1, "w-1", LEASE)
    results = [
        {"channel": "sms", "ok": True, "services": [{"service": "JSON", "status": "SUCCESS"}]}
    ]
    outbox.finish(
        claimed,
        Finish("sent", "ok", attempted=True, channel="sms", body="hi", provider_result=results),
        clock(),
    )
    (row,) = outbox.deliveries_for("p-1")
    assert row.attempts == 1 and row.sent_at == clock() and row.sent_at.tzinfo is not None
    assert json.loads(row.provider_result or "") == results
    assert outbox.sms_sent_since(["p-1", "p-2"], clock() - timedelta(days=8)) == {
        "p-1": [clock()],
        "p-2": [],
    }


def test_alerts_are_recorded_by_alert_id(engine: Engine, clock: FakeClock) -> None:
    outbox = SqlOutbox(engine)
    alert = CareTeamAlert(
        patient_id="p-1",
        alert_id=alert_id("p-1", AlertKind.HIGH_FEAR, "x"),
        kind=AlertKind.HIGH_FEAR,
        severity=Severity.HIGH,
        reason="score 9",
        raised_at=clock(),
        respond_by=clock() + timedelta(days=1),
    )
    assert outbox.record([alert, alert], clock()).recorded == [alert.alert_id]
    (claimed,) = outbox.claim_due(clock(), 5, "w", LEASE)
    assert claimed.purpose == "care_team_alert"


def test_finish_many_applies_each_row_like_finish(engine: Engine, clock: FakeClock) -> None:
    outbox = SqlOutbox(engine)
    outbox.record([reminder(item=f"i_{n}") for n in range(4)], clock())
    dead = outbox.claim_due(clock(), 4, "w-dead", LEASE)
    clock.advance(LEASE + timedelta(seconds=1))
    (stolen,) = outbox.claim_due(clock(), 1, "w-2", LEASE)  # one lease taken over
    later = clock() + timedelta(hours=1)
    outcomes = [
        Finish("sent", "ok", attempted=True, channel="email", subject="s", body="b"),
        Finish("deferred", "quiet hours", later),
        Finish("retrying", "retry in 1 min", later, attempted=True, channel="sms"),
        Finish("suppressed", "no consent"),
    ]
    applied = outbox.finish_many([(row, o, clock()) for row, o in zip(dead, outcomes, strict=True)])
    assert applied == [row.id != stolen.id for row in dead]
    rows = {d.id: d for d in outbox.deliveries_for("p-1")}
    trail = [a for a in outbox.audit_for("p-1") if a.action != "recorded"]
    assert len(trail) == 3  # no audit line for the row whose lease was lost
    for row, outcome, done in zip(dead, outcomes, applied, strict=True):
        stored = rows[row.id]
        if not done:
            assert stored.status == "sending" and stored.attempt_id == "w-2"
            continue
        assert stored.status == outcome.status and stored.status_reason == outcome.reason
        assert stored.lease_until is None
        assert stored.attempts == (1 if outcome.attempted else 0)
        assert stored.channel == outcome.channel and stored.body == outcome.body
        assert (stored.sent_at is not None) == (outcome.status == "sent")
        if outcome.next_attempt_at is not None:
            assert stored.next_attempt_at == outcome.next_attempt_at
    assert outbox.finish_many([]) == []
