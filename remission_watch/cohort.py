"""Synthetic patient histories for benchmarks, property tests and the demo (seeded, repeatable)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from models.events import Event, parse_event

SITES = {
    # site: (criteria system for response, marker LOINC drawn at follow-up, scan item)
    "breast": ("recist", "17842-6", "mammogram"),
    "colorectal": ("recist", "2039-6", "ct_chest_abdomen_pelvis"),
    "lung": ("recist", None, "ct_chest"),
    "hodgkin": ("lugano", None, "ct_chest_abdomen_pelvis"),
    "dlbcl": ("lugano", None, "ct_chest_abdomen_pelvis"),
    "thyroid": ("ata", "3013-0", "neck_ultrasound"),
    "prostate": ("psa", "2857-1", None),
    "melanoma": ("recist", None, "ct_chest_abdomen_pelvis"),
    "ovarian": ("recist", "10334-1", "ct_abdomen_pelvis"),
    "testicular": ("recist", "1834-1", "ct_abdomen_pelvis"),
    "myeloma": ("imwg", None, None),
}
ZONES = ("America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/Madrid")


@dataclass
class _Builder:
    patient_id: str
    rng: random.Random
    events: list[dict[str, object]]
    counter: int = 0

    def add(self, at: datetime, kind: str, **fields: object) -> str:
        self.counter += 1
        event_id = f"{self.patient_id}-{self.counter:03d}"
        self.events.append(
            {
                "event_id": event_id,
                "patient_id": self.patient_id,
                "type": kind,
                "occurred_at": at.isoformat(),
                "recorded_at": (at + timedelta(hours=2)).isoformat(),
                "source": "synthetic",
                **fields,
            }
        )
        return event_id


def _assessment(
    system: str, response: str, rng: random.Random, baseline: bool = False
) -> dict[str, object]:
    """Raw measurements that the criteria system will judge as `response`."""
    if system == "recist":
        size = {"baseline": 42.0, "complete": 0.0, "partial": 25.0, "progression": 60.0}[response]
        lesions = [{"lesion_id": "t1", "organ": "liver", "is_node": False, "diameter_mm": size}]
        return {
            "system": "recist",
            "targets": lesions,
            "baseline": baseline,
            "new_lesions": response == "progression",
        }
    if system == "lugano":
        score = {"baseline": 5, "complete": 2, "partial": 4, "progression": 5}[response]
        uptake = {"complete": "reduced", "partial": "reduced", "progression": "increased"}
        return {
            "system": "lugano",
            "deauville": score,
            "baseline": baseline,
            "uptake_vs_baseline": uptake.get(response),
            "new_fdg_avid_foci": response == "progression",
        }
    if system == "ata":
        tg = {"baseline": 30.0, "complete": 0.1, "partial": 0.5, "progression": 40.0}[response]
        imaging = "structural" if response == "progression" else "negative"
        return {
            "system": "ata",
            "imaging": imaging,
            "tg_ng_ml": tg,
            "tg_stimulated": False,
            "tg_antibodies": "absent",
        }
    if system == "psa":
        value = {"baseline": 9.0, "complete": 0.05, "partial": 0.1, "progression": 0.4}[response]
        return {"system": "psa", "value_ng_ml": value, "setting": "prostatectomy"}
    # imwg
    protein = {"baseline": 3.0, "complete": 0.0, "partial": 1.2, "progression": 2.0}[response]
    negative = response == "complete"
    fixation = "negative" if negative else "positive"
    return {
        "system": "imwg",
        "serum_m_protein_g_dl": protein,
        "baseline": baseline,
        "serum_immunofixation": fixation,
        "urine_immunofixation": fixation,
        "marrow_plasma_cells_pct": 2.0 if negative else 20.0,
        "plasmacytomas": False,
    }


def patient_history(
    patient_id: str, seed: int, start: datetime, events: int = 50
) -> list[dict[str, object]]:
    """About `events` raw events of one synthetic patient, as wire-format dicts, in time order."""
    rng = random.Random(seed)
    site = rng.choice(sorted(SITES))
    system, marker, scan = SITES[site]
    b = _Builder(patient_id, rng, [])
    t = start
    receptors = {
        "er": rng.choice(["positive", "negative"]),
        "pr": "unknown",
        "her2": rng.choice(["positive", "negative"]),
    }
    b.add(
        t,
        "patient.enrolled",
        site=site,
        time_zone=rng.choice(ZONES),
        language=rng.choice(["en", "en", "es"]),
        stage="I" if site == "testicular" else rng.choice(["I", "II", "III"]),
        receptors=receptors if site == "breast" else {},
        flags=[],
    )
    b.add(
        t + timedelta(days=3),
        "response.assessed",
        assessment=_assessment(system, "baseline", rng, baseline=True),
    )
    b.add(
        t + timedelta(days=7),
        "treatment.started",
        treatment_id="tx1",
        modality="chemotherapy",
        role="primary",
    )
    t += timedelta(days=120)
    b.add(t, "treatment.completed", treatment_id="tx1", modality="chemotherapy")
    b.add(
        t + timedelta(days=14), "response.assessed", assessment=_assessment(system, "complete", rng)
    )
    b.add(
        t + timedelta(days=50), "response.assessed", assessment=_assessment(system, "complete", rng)
    )
    relapse_at = len(b.events) + rng.randrange(15, 40) if rng.random() < 0.3 else None
    order = 0
    while len(b.events) < events:
        t += timedelta(days=rng.randrange(60, 120))
        roll = rng.random()
        if relapse_at is not None and len(b.events) >= relapse_at:
            relapse_at = None
            b.add(t, "response.assessed", assessment=_assessment(system, "progression", rng))
            b.add(
                t + timedelta(days=10),
                "treatment.started",
                treatment_id="tx2",
                modality="chemotherapy",
                role="salvage",
            )
            b.add(
                t + timedelta(days=100),
                "treatment.completed",
                treatment_id="tx2",
                modality="chemotherapy",
            )
            b.add(
                t + timedelta(days=110),
                "response.assessed",
                assessment=_assessment(system, "complete", rng),
            )
            t += timedelta(days=150)
            b.add(t, "response.assessed", assessment=_assessment(system, "complete", rng))
        elif roll < 0.35:
            b.add(t, "visit.completed", item="history_physical")
        elif roll < 0.6 and marker:
            order += 1
            b.add(
                t,
                "lab.resulted",
                order_id=f"L{order}",
                loinc=marker,
                value=round(rng.uniform(0.1, 4.0), 2),
                unit="ng/mL",
            )
        elif roll < 0.8 and scan:
            order += 1
            when = t + timedelta(days=10)
            b.add(
                t, "scan.scheduled", order_id=f"S{order}", item=scan, scheduled_for=when.isoformat()
            )
            b.add(when, "scan.completed", order_id=f"S{order}", item=scan)
            b.add(
                when + timedelta(days=rng.randrange(0, 8)),
                "scan.resulted",
                order_id=f"S{order}",
                item=scan,
                finding="no_evidence_of_disease",
            )
        else:
            b.add(t, "checkin.answered", score=rng.choice([0, 1, 2, 3, 4, 6, 8]))
    return b.events[:events]


def cohort(
    patients: int, events_per_patient: int = 50, seed: int = 7, start: datetime | None = None
) -> Iterator[Event]:
    """`patients` synthetic histories as validated events, patient after patient."""
    begin = start or datetime.fromisoformat("2021-01-04T09:00:00+00:00")
    for n in range(patients):
        offset = timedelta(days=(n * 37) % 365)
        for raw in patient_history(
            f"P{n:06d}", seed * 1_000_003 + n, begin + offset, events_per_patient
        ):
            yield parse_event(raw)
