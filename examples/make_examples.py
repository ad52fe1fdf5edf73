"""Writes the example event files in this folder (run: python examples/make_examples.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


class Story:
    def __init__(self, patient: str, start: str) -> None:
        self.patient = patient
        self.start = datetime.fromisoformat(start).replace(tzinfo=UTC)
        self.lines: list[dict[str, Any]] = []

    def add(self, day: int, kind: str, event_id: str | None = None, **fields: Any) -> str:
        at = self.start + timedelta(days=day, hours=15)
        event_id = event_id or f"{self.patient}-{len(self.lines) + 1:03d}"
        self.lines.append(
            {
                "event_id": event_id,
                "patient_id": self.patient,
                "type": kind,
                "occurred_at": at.isoformat(),
                "recorded_at": (at + timedelta(hours=1)).isoformat(),
                "source": "example",
                **fields,
            }
        )
        return event_id

    def enrol(self, **fields: Any) -> str:
        return self.add(0, "patient.enrolled", **fields)

    def treatment(
        self, start: int, end: int, treatment_id: str, modality: str, role: str = "primary"
    ) -> None:
        """A treatment from day `start` to day `end` (both events, in that order)."""
        self.add(
            start,
            "treatment.started",
            treatment_id=treatment_id,
            modality=modality,
            **({} if role == "primary" else {"role": role}),
        )
        self.add(end, "treatment.completed", treatment_id=treatment_id, modality=modality)

    def assessed(self, day: int, assessment: dict[str, Any]) -> str:
        return self.add(day, "response.assessed", assessment=assessment)


def recist(mm: float, baseline: bool = False, new: bool = False) -> dict[str, Any]:
    return {
        "system": "recist",
        "baseline": baseline,
        "new_lesions": new,
        "targets": [
            {"lesion_id": "liver-1", "organ": "liver", "is_node": False, "diameter_mm": mm}
        ],
    }


def colorectal_recurrence() -> Story:
    s = Story("EX-CRC-01", "2021-02-01")
    s.enrol(
        site="colorectal",
        stage="III",
        time_zone="America/Chicago",
        language="es",
        flags=["adjuvant_chemotherapy"],
    )
    s.assessed(5, recist(34, baseline=True))
    s.treatment(10, 150, "folfox-1", "chemotherapy")
    s.assessed(160, recist(0))
    s.assessed(200, recist(0))  # CR confirmed after 40 days
    s.add(250, "lab.resulted", order_id="CEA-1", loinc="2039-6", value=2.1, unit="ng/mL")
    wrong = s.add(340, "lab.resulted", order_id="CEA-2", loinc="2039-6", value=41.0, unit="ng/mL")
    s.add(
        342,
        "event.corrected",
        target_event_id=wrong,
        replacement={
            "event_id": "EX-CRC-01-cea2-c",
            "patient_id": s.patient,
            "type": "lab.resulted",
            "occurred_at": s.lines[-1]["occurred_at"],
            "recorded_at": s.lines[-1]["recorded_at"],
            "source": "example",
            "order_id": "CEA-2",
            "loinc": "2039-6",
            "value": 4.1,
            "unit": "ng/mL",
            "status": "corrected",
        },
    )
    s.add(360, "visit.completed", item="history_physical")
    s.assessed(600, recist(18, new=True))  # recurrence
    s.treatment(610, 760, "folfiri-1", "chemotherapy", role="salvage")
    s.assessed(770, recist(0))
    s.assessed(805, recist(0))  # second remission, confirmed
    s.add(900, "checkin.answered", score=7)  # high fear: a care-team alert
    s.add(320, "visit.completed", item="history_physical")  # a late-arriving fact
    return s


def breast_er_positive() -> Story:
    s = Story("EX-BR-01", "2023-03-06")
    s.enrol(
        site="breast",
        stage="II",
        time_zone="America/New_York",
        receptors={"er": "positive", "pr": "positive", "her2": "negative"},
        flags=["on_tamoxifen", "uterus_present"],
    )
    s.treatment(14, 14, "lumpectomy", "surgery")
    s.treatment(40, 80, "rt-1", "radiotherapy", role="adjuvant")
    s.add(
        85, "treatment.started", treatment_id="tam-1", modality="endocrine", role="adjuvant"
    )  # years of tamoxifen: surveillance goes on
    s.add(180, "visit.completed", item="history_physical")
    s.add(
        320,
        "scan.scheduled",
        order_id="MG-1",
        item="mammogram",
        scheduled_for="2024-02-12T14:00:00+00:00",
    )
    s.add(343, "scan.completed", order_id="MG-1", item="mammogram")
    s.add(346, "scan.resulted", order_id="MG-1", item="mammogram", finding="no_evidence_of_disease")
    s.add(350, "lab.resulted", order_id="CA153-1", loinc="6875-9", value=18.0, unit="U/mL")
    s.add(380, "checkin.answered", score=3)
    s.add(
        400,
        "override.recorded",
        item="pelvic_exam",
        action="done_elsewhere",
        done_on="2024-03-15",
        reason="gynaecologist letter",
    )
    return s


def hodgkin() -> Story:
    s = Story("EX-HL-01", "2022-09-12")
    s.enrol(
        site="hodgkin",
        stage="II",
        time_zone="Europe/Madrid",
        language="es",
        flags=["neck_radiation"],
    )
    s.assessed(3, {"system": "lugano", "deauville": 5, "baseline": True})
    s.treatment(7, 170, "abvd", "chemotherapy")
    s.assessed(
        190,
        {"system": "lugano", "deauville": 3, "uptake_vs_baseline": "reduced"},
    )
    s.add(200, "status.declared", status="complete_remission")
    s.add(380, "visit.completed", item="history_physical")
    return s


def her2_metastatic() -> Story:
    s = Story("EX-HER2-01", "2023-01-09")
    s.enrol(
        site="breast",
        stage="IV",
        intent="palliative",
        time_zone="America/Los_Angeles",
        flags=["metastatic"],
        receptors={"er": "negative", "her2": "positive"},
    )
    s.add(5, "treatment.started", treatment_id="thp", modality="targeted")
    s.assessed(90, {"system": "ctc", "count": 1, "phenotype": "positive"})
    s.assessed(180, {"system": "ctc", "count": 0, "phenotype": "dim"})
    s.add(185, "treatment.completed", treatment_id="thp", modality="targeted")
    s.add(186, "treatment.started", treatment_id="maint", modality="targeted", role="maintenance")
    s.assessed(270, {"system": "ctc", "count": 1, "phenotype": "negative"})
    return s


def prostate() -> Story:
    s = Story("EX-PR-01", "2022-05-02")
    s.enrol(
        site="prostate",
        stage="II",
        time_zone="America/Denver",
        flags=["prostatectomy"],
    )
    s.treatment(20, 20, "rp", "surgery")
    s.assessed(
        80,
        {"system": "psa", "value_ng_ml": 0.03, "setting": "prostatectomy"},
    )
    s.add(81, "lab.resulted", order_id="PSA-1", loinc="2857-1", value=0.03, unit="ng/mL")
    s.add(400, "lab.resulted", order_id="PSA-2", loinc="2857-1", value=0.05, unit="ng/mL")
    s.assessed(
        401,
        {"system": "psa", "value_ng_ml": 0.05, "setting": "prostatectomy"},
    )
    return s


def thyroid_with_errors() -> Story:
    s = Story("EX-TH-01", "2023-06-05")
    s.enrol(site="thyroid", stage="I", time_zone="America/New_York")
    s.treatment(10, 10, "tt", "surgery")
    s.treatment(60, 61, "rai", "radioiodine", role="adjuvant")
    s.assessed(
        250,
        {
            "system": "ata",
            "imaging": "negative",
            "tg_ng_ml": 0.1,
            "tg_antibodies": "absent",
        },
    )
    s.assessed(
        300,
        {
            "system": "ata",
            "imaging": "negative",
            "tg_ng_ml": 0.1,
            "tg_antibodies": "absent",
        },
    )
    s.add(301, "lab.resulted", order_id="TG-1", loinc="3013-0", value=0.1, unit="ng/mL")
    return s


def write(name: str, story: Story, extra: list[str] = ()) -> None:  # type: ignore[assignment]
    lines = [json.dumps(line) for line in story.lines] + list(extra)
    (HERE / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write("colorectal-recurrence.jsonl", colorectal_recurrence())
    write("breast-er-positive.jsonl", breast_er_positive())
    write("hodgkin.jsonl", hodgkin())
    write("her2-metastatic-ctc.jsonl", her2_metastatic())
    write("prostate.jsonl", prostate())
    write(
        "thyroid-with-bad-lines.jsonl",
        thyroid_with_errors(),
        [
            '{"event_id": "x", "patient_id": "EX-TH-01", "type": "lab.resulted"',
            json.dumps(
                {
                    "event_id": "EX-TH-99",
                    "patient_id": "EX-TH-01",
                    "type": "lab.resulted",
                    "occurred_at": "2024-05-01T10:00:00",
                    "recorded_at": "2024-05-01T10:00:00",
                    "source": "example",
                    "order_id": "TG-2",
                    "loinc": "3013-0",
                }
            ),
            json.dumps(
                {
                    "event_id": "EX-ZZ-1",
                    "patient_id": "EX-UNKNOWN",
                    "type": "visit.completed",
                    "occurred_at": "2024-05-01T10:00:00+00:00",
                    "recorded_at": "2024-05-01T10:00:00+00:00",
                    "source": "example",
                }
            ),
            json.dumps(
                {
                    "event_id": "EX-ZZ-2",
                    "patient_id": "EX-TH-01",
                    "type": "scan.teleported",
                    "occurred_at": "2024-05-01T10:00:00+00:00",
                    "recorded_at": "2024-05-01T10:00:00+00:00",
                    "source": "example",
                }
            ),
        ],
    )
    all_lines = []
    for path in sorted(HERE.glob("*.jsonl")):
        if path.name != "all.jsonl" and "bad-lines" not in path.name:
            all_lines += path.read_text().splitlines()
    (HERE / "all.jsonl").write_text("\n".join(all_lines) + "\n", encoding="utf-8")
