"""The demo's synthetic cohort: patients with contact details, consents and their events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from models.events import Event, parse_event
from remission_watch.cohort import patient_history

START = datetime(2021, 1, 4, 15, 0, tzinfo=UTC)  # a Monday; 10:00 in New York, 07:00 in LA


@dataclass(frozen=True)
class DemoOptions:
    patients: int = 40
    years: float = 5.0
    seed: int = 7
    step_days: int = 7
    partitions: int = 4


@dataclass
class Patient:
    patient_id: str
    events: list[Event]
    zone: str
    language: str
    phone: str
    email: str
    sms_consent: bool
    email_consent: bool


@dataclass
class Cohort:
    patients: list[Patient]
    events: list[Event] = field(default_factory=list)


def build_cohort(options: DemoOptions) -> Cohort:
    """Synthetic patients with opt-outs, late and corrected results and high fear scores."""
    patients: list[Patient] = []
    for n in range(options.patients):
        pid = f"DEMO-{n:04d}"
        raw = patient_history(pid, options.seed * 7919 + n, START - timedelta(days=200), 24)
        if n % 7 == 3:  # a lab result later corrected by the lab
            raw += _correction(raw)
        if n % 9 == 5 and len(raw) > 12:  # a result that arrives late: recorded weeks after
            raw[12]["recorded_at"] = raw[-1]["recorded_at"]
        events = [parse_event(r) for r in raw]
        enrolled = raw[0]
        patients.append(
            Patient(
                patient_id=pid,
                events=events,
                zone=str(enrolled["time_zone"]),
                language=str(enrolled["language"]),
                phone=f"+1555{n:07d}",
                email=f"{pid.lower()}@patients.example.org",
                sms_consent=n % 5 != 1 and n % 11 != 4,  # a fifth have not agreed to SMS
                email_consent=n % 13 != 7 and n % 11 != 4,  # some agreed to neither
            )
        )
    # Enrolments first: they and the first results travel on different topics, and a result
    # read before its patient's enrolment would be dead-lettered as an unknown patient.
    every = sorted(
        (e for p in patients for e in p.events),
        key=lambda e: (e.type != "patient.enrolled", e.recorded_at),
    )
    return Cohort(patients, every)


def _correction(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    labs = [r for r in raw if r["type"] == "lab.resulted"]
    if not labs:
        return []
    wrong = labs[0]
    fixed = dict(
        wrong,
        event_id=f"{wrong['event_id']}-c",
        value=round(float(wrong["value"]) / 10, 2),
        status="corrected",
    )  # type: ignore[arg-type]
    at = datetime.fromisoformat(str(wrong["recorded_at"])) + timedelta(days=2)
    return [
        {
            "event_id": f"{wrong['event_id']}-corr",
            "patient_id": wrong["patient_id"],
            "type": "event.corrected",
            "occurred_at": at.isoformat(),
            "recorded_at": at.isoformat(),
            "source": "synthetic",
            "target_event_id": wrong["event_id"],
            "replacement": fixed,
        }
    ]
