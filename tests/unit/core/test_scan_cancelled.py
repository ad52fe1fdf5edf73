"""`scan.cancelled`: a cancelled scan waits for no pre-scan check-in; a done one stays done."""

from __future__ import annotations

from models.events import parse_event
from models.state import replay


def event(kind: str, eid: str, at: str, **fields: object) -> object:
    return parse_event(
        {
            "type": kind,
            "event_id": eid,
            "patient_id": "p-1",
            "occurred_at": at,
            "recorded_at": at,
            "source": "test",
            **fields,
        }
    )


ENROL = event("patient.enrolled", "e", "2027-01-01T00:00:00Z", site="breast")
SCHEDULED = event(
    "scan.scheduled",
    "s",
    "2027-01-02T00:00:00Z",
    order_id="A-1",
    item="mammogram",
    scheduled_for="2027-02-01T10:00:00Z",
)
CANCELLED = event("scan.cancelled", "c", "2027-01-03T00:00:00Z", order_id="A-1", item="mammogram")
COMPLETED = event("scan.completed", "d", "2027-01-02T12:00:00Z", order_id="A-1", item="mammogram")


def test_a_cancelled_scan_leaves_no_open_order() -> None:
    assert [o.item for o in replay([ENROL, SCHEDULED])["p-1"].view.orders] == ["mammogram"]
    assert replay([ENROL, SCHEDULED, CANCELLED])["p-1"].view.orders == ()
    assert (
        replay([CANCELLED, ENROL, SCHEDULED])["p-1"] == replay([ENROL, SCHEDULED, CANCELLED])["p-1"]
    )


def test_a_cancellation_after_the_scan_does_not_undo_it() -> None:
    state = replay([ENROL, SCHEDULED, COMPLETED, CANCELLED])["p-1"]
    (order,) = state.view.orders
    assert order.completed
    assert state.view.done_at("mammogram")
