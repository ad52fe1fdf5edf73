"""The demo's report: what was sent, deferred, suppressed and escalated, and why."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, text

from remission_watch.demo_cohort import START, Cohort

if TYPE_CHECKING:
    from remission_watch.demo import Demo

CARE_TEAM = "care-team@clinic.example.org"


def report(demo: Demo, cohort: Cohort, produced: int, steps: int, wall: float) -> dict[str, Any]:
    engine = create_engine(demo.notifier.database_url)
    try:
        with engine.connect() as conn:
            statuses = dict(
                conn.execute(text("select status, count(*) from deliveries group by status")).all()
            )
            by_purpose = conn.execute(
                text(
                    "select purpose, channel, status, count(*) from deliveries "
                    "group by purpose, channel, status order by 1, 2, 3"
                )
            ).all()
            decisions = conn.execute(text("select action, reason from audit")).all()
            alerts = conn.execute(
                text("select payload from deliveries where purpose = 'care_team_alert'")
            ).all()
            sent_ids = conn.execute(
                text("select reminder_id from deliveries where status = 'sent'")
            ).all()
    finally:
        engine.dispose()
    why = Counter(
        (action, _reason_kind(reason))
        for action, reason in decisions
        if action in ("deferred", "suppressed", "failed", "cancelled", "sent")
    )
    escalated = Counter(json.loads(p)["kind"] for (p,) in alerts if p)
    emails = demo.smtp.count_by_recipient()
    care_team_mail = emails.pop(CARE_TEAM, 0)
    problems = []
    if len(sent_ids) != len({r for (r,) in sent_ids}):
        problems.append("a reminder id was sent twice")
    patient_mail = sum(emails.values())
    sent_email = sum(
        n
        for purpose, channel, status, n in by_purpose
        if channel == "email" and status == "sent" and purpose != "care_team_alert"
    )
    if patient_mail != sent_email:
        problems.append(f"SMTP sink holds {patient_mail} patient emails, outbox says {sent_email}")
    registry = demo.metrics.registry
    return {
        "simulated": {
            "from": START.date().isoformat(),
            "to": demo.clock().date().isoformat(),
            "weeks": steps,
            "patients": len(cohort.patients),
            "events_produced": produced,
        },
        "wall_seconds": round(wall, 1),
        "streams": {
            "events_applied": int(
                registry.get_sample_value("rw_streams_events_applied_total") or 0
            ),
            "reminders_and_cancellations": int(
                registry.get_sample_value("rw_streams_reminders_emitted_total") or 0
            ),
            "alerts": int(registry.get_sample_value("rw_streams_alerts_emitted_total") or 0),
            "ticks_settled": int(demo.ticks_settled()),
        },
        "deliveries_by_status": statuses,
        "deliveries": [
            {"purpose": p, "channel": c, "status": s, "count": n} for p, c, s, n in by_purpose
        ],
        "why": [{"decision": a, "reason": r, "count": n} for (a, r), n in why.most_common()],
        "escalated_to_care_team": dict(escalated),
        "received": {
            "patient_emails": patient_mail,
            "care_team_emails": care_team_mail,
            "sms": len(demo.sms.posts),
        },
        "replies": demo.replies,
        "problems": problems,
    }


def _reason_kind(reason: str) -> str:
    """A decision's reason without its instants, ids and counts, so that like groups with like."""
    words = []
    for word in reason.replace(",", " ").split():
        if any(ch.isdigit() for ch in word):
            break
        words.append(word)
    return " ".join(words[:10]) or reason[:60]


def print_report(report: dict[str, Any], as_json: bool = False) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    sim, streams = report["simulated"], report["streams"]
    console.print(
        f"[bold]Remission Watch demo[/bold]: {sim['patients']} patients, "
        f"{sim['from']} to {sim['to']} ({sim['weeks']} simulated weeks) "
        f"in {report['wall_seconds']} s"
    )
    console.print(
        f"streams: {sim['events_produced']} events produced, "
        f"{streams['events_applied']} applied, {streams['ticks_settled']} ticks "
        f"settled, {streams['reminders_and_cancellations']} reminders and "
        f"cancellations, {streams['alerts']} care-team alerts"
    )
    table = Table(title="Deliveries")
    for column in ("purpose", "channel", "status", "count"):
        table.add_column(column)
    for row in report["deliveries"]:
        table.add_row(row["purpose"], row["channel"] or "-", row["status"], str(row["count"]))
    console.print(table)
    why = Table(title="Why: every decision the notifier recorded")
    for column in ("decision", "reason", "count"):
        why.add_column(column)
    for row in report["why"]:
        why.add_row(row["decision"], row["reason"], str(row["count"]))
    console.print(why)
    console.print(f"escalated to the care team: {report['escalated_to_care_team']}")
    r = report["received"]
    console.print(
        f"received by the sinks: {r['patient_emails']} patient emails, "
        f"{r['sms']} SMS, {r['care_team_emails']} care-team emails"
    )
    for reply in report["replies"]:
        console.print(
            f"  {reply['on']} {reply['patient_id']} texted {reply['text']!r}: {reply['outcome']}"
        )
    for problem in report["problems"]:
        console.print(f"[red]problem:[/red] {problem}")
