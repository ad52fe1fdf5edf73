"""The demo's report: what was sent, deferred, suppressed and escalated, and why."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, text

from remission_watch.demo_cohort import START, Cohort

if TYPE_CHECKING:
    from remission_watch.demo import Demo

CARE_TEAM = "care-team@clinic.example.org"
ESCALATIONS = {
    "overdue": "an item overdue",
    "high_fear": "high fear of recurrence (check-in score)",
    "self_harm": "self-harm words in a reply",
    "lost_to_follow_up": "lost to follow-up",
    "delivery_failed": "a message could not be delivered",
}


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
            decisions = conn.execute(
                text("select action, reason, reminder_id from audit order by id")
            ).all()
            alerts = conn.execute(
                text("select payload from deliveries where purpose = 'care_team_alert'")
            ).all()
            sent_ids = conn.execute(
                text("select reminder_id from deliveries where status = 'sent'")
            ).all()
    finally:
        engine.dispose()
    # Counted in deliveries, as the Deliveries table is: a delivery deferred twice for quiet
    # hours and then sent counts once under "deferred: quiet hours" and once under "sent".
    decided = dict.fromkeys(
        (action, _reason_kind(reason), reminder_id)
        for action, reason, reminder_id in decisions
        if action in ("deferred", "suppressed", "failed", "cancelled", "sent")
    )
    why = Counter((action, reason) for action, reason, _ in decided)
    raised = [json.loads(p) for (p,) in alerts if p]
    escalated = Counter(alert["kind"] for alert in raised)
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
    ingest = demo.ingest_tally.as_dict()
    refused = sum(n for code, n in ingest["hl7_acks"].items() if code != "AA") + sum(
        n for status, n in ingest["fhir_entries"].items() if not status.startswith("200")
    )
    if refused:
        problems.append(f"ingest refused {refused} of the demo's HL7 messages / FHIR resources")
    dead = sum(
        sample.value
        for metric in registry.collect()
        for sample in metric.samples
        if sample.name == "rw_streams_dead_lettered_total"
    )
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
            "dead_lettered": int(dead),
        },
        "ingest": ingest,
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
        "replies": [_with_escalation(reply, raised) for reply in demo.replies],
        "problems": problems,
    }


_INSTANT = re.compile(r"\s*(?:at\s+)?\d{4}-\d\d-\d\d[T ][\d:.]+(?:[+-]\d\d:?\d\d|Z)?")
_CLOCK = re.compile(r"\s*\(\d\d:\d\d [\w/+-]+\)")  # "(16:00 Europe/Madrid)": when it was
_IDS = re.compile(r"\b(?:rem|alert|dl)-[0-9a-f]{6,}\b")


def _reason_kind(reason: str) -> str:
    """A decision's reason whole, without its instants and ids, so like groups with like."""
    return _IDS.sub("(id)", _CLOCK.sub("", _INSTANT.sub("", reason))).strip()


def _escalation_of(text: str) -> str | None:
    """The alert kind a check-in answer of this text raises, by the notifier's own reading of
    replies and the core's rule (models.clocks: self-harm words first, then FCR-1r >= 5)."""
    from models.checkins import HIGH_FEAR_SCORE
    from notifier.replies import classify

    intent = classify(text)
    if intent.self_harm:
        return "self_harm"
    if intent.score is not None and intent.score >= HIGH_FEAR_SCORE:
        return "high_fear"
    return None


def _with_escalation(reply: dict[str, str], alerts: list[dict[str, Any]]) -> dict[str, str]:
    """The reply, and what the care team was told because of it (check-in answers only).

    Only the kind this reply's own text raises counts, and only if such an alert for the
    patient was raised within a week: a score of 3 sent the same day as a crisis message
    is not shown as escalated for self-harm."""
    kind = _escalation_of(reply["text"]) if reply["outcome"] == "checkin" else None
    if kind is None:
        return reply
    raised = any(
        a.get("patient_id") == reply["patient_id"]
        and a.get("kind") == kind
        and reply["on"] <= str(a.get("raised_at", ""))[:10] <= _plus_days(reply["on"], 7)
        for a in alerts
    )
    return reply | {"escalated": kind} if raised else reply


def _plus_days(day: str, days: int) -> str:
    from datetime import date, timedelta

    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def print_report(report: dict[str, Any], as_json: bool = False) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=True)  # a sentence stays one line when piped to a file
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
    _print_ingest(console, report)
    table = Table(title="Deliveries, by their status at the end of the run")
    for column in ("purpose", "channel", "status", "deliveries"):
        table.add_column(column)
    for row in report["deliveries"]:
        table.add_row(row["purpose"], row["channel"] or "-", row["status"], str(row["count"]))
    console.print(table)
    why = Table(
        title="Why: deliveries by each decision the notifier made about them",
        caption="a delivery deferred and later sent counts under both rows",
    )
    why.add_column("decision")
    why.add_column("reason", overflow="fold")
    why.add_column("deliveries", justify="right")
    for row in report["why"]:
        why.add_row(row["decision"], row["reason"], str(row["count"]))
    console.print(why)
    escalated = Table(title="Escalated to the care team")
    escalated.add_column("why")
    escalated.add_column("alerts", justify="right")
    by_count = sorted(report["escalated_to_care_team"].items(), key=lambda kc: (-kc[1], kc[0]))
    for kind, count in by_count:
        escalated.add_row(ESCALATIONS.get(kind, kind), str(count))
    console.print(escalated)
    r = report["received"]
    console.print(
        f"received by the sinks: {r['patient_emails']} patient emails, "
        f"{r['sms']} SMS, {r['care_team_emails']} care-team emails"
    )
    for reply in report["replies"]:
        kinds = [ESCALATIONS.get(k, k) for k in reply.get("escalated", "").split(", ") if k]
        told = f"; escalated to the care team ({', '.join(kinds)})" if kinds else ""
        console.print(
            f"  {reply['on']} {reply.get('shown', reply['patient_id'])} texted {reply['text']!r}: "
            f"{reply['outcome']}{told}",
            markup=False,  # a patient's words are printed as they came
        )
    for problem in report["problems"]:
        console.print(f"[red]problem:[/red] {problem}")


def _print_ingest(console: Any, report: dict[str, Any]) -> None:
    """What came in as a hospital's feeds send it (remission_watch.demo_ingest)."""
    ingest = report.get("ingest")
    if not ingest or not ingest["patients"]:
        return
    patients, acks = ingest["patients"], ingest["hl7_acks"]
    entries = ingest["fhir_entries"]
    ok = sum(n for status, n in entries.items() if status.startswith("200"))
    dead = report["streams"]["dead_lettered"]
    console.print(
        f"ingest: {patients.get('DEMO-LAB', 0)} patients' results as HL7 v2 over MLLP "
        f"({ingest['hl7_messages_sent_over_mllp']} ORU^R01/SIU^S12 messages, "
        f"{acks.get('AA', 0)} ACKed AA after Kafka), {patients.get('DEMO-FHIR', 0)} patients' "
        f"as FHIR R4 ({ingest['fhir_requests']} batch Bundles, {ok} of "
        f"{sum(entries.values())} resources accepted); {ingest['events_through_ingest']} events "
        f"published, all taken by the patient agent ({dead} dead-lettered in the whole run)"
    )
