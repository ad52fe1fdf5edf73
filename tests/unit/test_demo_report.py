"""The demo's list of patient replies: each reply shows only the escalation its own text raised."""

from __future__ import annotations

from remission_watch.demo_report import _with_escalation

ON = "2021-06-07"
ALERTS = [
    {"patient_id": "DEMO-0002", "kind": "self_harm", "raised_at": "2021-06-07T10:00:00+00:00"},
    {"patient_id": "DEMO-0002", "kind": "high_fear", "raised_at": "2021-06-07T10:00:00+00:00"},
    {"patient_id": "DEMO-0002", "kind": "overdue", "raised_at": "2021-06-07T10:00:00+00:00"},
]


def reply(text: str, patient: str = "DEMO-0002", outcome: str = "checkin") -> dict[str, str]:
    return {"patient_id": patient, "text": text, "on": ON, "outcome": outcome}


def test_three_replies_on_one_day_each_show_only_their_own_escalation() -> None:
    shown = [
        _with_escalation(reply(t), ALERTS).get("escalated")
        for t in ("3", "8", "I feel hopeless and want to end my life")
    ]
    assert shown == [None, "high_fear", "self_harm"]


def test_an_escalation_is_shown_only_if_the_alert_was_raised() -> None:
    assert "escalated" not in _with_escalation(reply("8", patient="DEMO-0005"), ALERTS)
    late = [a | {"raised_at": "2021-06-20T10:00:00+00:00"} for a in ALERTS]
    assert "escalated" not in _with_escalation(reply("8"), late)


def test_a_reply_that_is_not_a_checkin_answer_is_never_escalated() -> None:
    assert "escalated" not in _with_escalation(reply("Stop", outcome="opt_out"), ALERTS)
