"""The clinical cases (issue 12): each folded through the whole core, with the right value and
its source. The fixtures are written here, modelled on the shared case files (never read)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from models.clocks import forecast, standing
from models.events import parse_event
from models.outputs import AlertKind
from models.state import PatientState, evolve
from remission_watch.protocol_files import load_builtin_catalog as load_catalog

PATIENT = "PX-T"


def at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T12:00:00+00:00")


class Course:
    """A patient's events, built one line at a time like a case file."""

    def __init__(self, **enrolment: Any) -> None:
        self.n = 0
        self.events: list[dict[str, Any]] = []
        self.add("2024-01-02", "patient.enrolled", **enrolment)

    def add(self, day: str, kind: str, **fields: Any) -> Course:
        self.n += 1
        moment = at(day).isoformat()
        self.events.append(
            {
                "event_id": f"{PATIENT}-{self.n:02d}",
                "patient_id": PATIENT,
                "type": kind,
                "occurred_at": moment,
                "recorded_at": moment,
                "source": "test",
                **fields,
            }
        )
        return self

    def assess(self, day: str, **assessment: Any) -> Course:
        return self.add(day, "response.assessed", assessment=assessment)

    def treat(self, start: str, end: str, modality: str, **fields: Any) -> Course:
        tid = f"t{self.n}"
        self.add(start, "treatment.started", treatment_id=tid, modality=modality, **fields)
        return self.add(end, "treatment.completed", treatment_id=tid, modality=modality)

    def state(self) -> PatientState:
        state = None
        for raw in self.events:
            state = evolve(state, parse_event(raw))
        assert state is not None
        return state

    def status(self, day: str = "2025-06-01") -> str:
        return standing(self.state().view, at(day)).status


def recist(mm: float, **kwargs: Any) -> dict[str, Any]:
    target = {"lesion_id": "L1", "organ": "liver", "is_node": False, "diameter_mm": mm}
    return {"system": "recist", "targets": [target], **kwargs}


def imwg(m_protein: float, ife: str = "positive", **kwargs: Any) -> dict[str, Any]:
    return {
        "system": "imwg",
        "serum_immunofixation": ife,
        "urine_immunofixation": ife if ife == "positive" else "negative",
        "serum_m_protein_g_dl": m_protein,
        **kwargs,
    }


def eln(blasts: float, anc: float, platelets: float) -> dict[str, Any]:
    return {
        "system": "eln",
        "marrow_blasts_pct": blasts,
        "circulating_blasts": False,
        "extramedullary_disease": False,
        "anc_10e9_l": anc,
        "platelets_10e9_l": platelets,
        "baseline_blasts_pct": 60,
    }


def colorectal() -> Course:
    return Course(site="colorectal", stage="IV", intent="palliative")


# --- kind 1: confirmation is a repeat assessment (RECIST 1.1 §4.6, Table 3; IMWG 2016) -------


def test_c01_reappearance_after_a_confirmed_cr_is_progression_and_ends_the_episode():
    # RECIST 1.1 (Eisenhauer 2009) Table 3 footnote; EORTC RECIST FAQ
    course = colorectal().assess("2024-01-05", **recist(30, baseline=True))
    course.assess("2024-06-10", **recist(0)).assess("2024-07-15", **recist(0))
    course.assess("2024-10-15", **recist(4))
    state = course.state()
    [episode] = state.view.episodes
    assert (episode.kind, episode.ended_by) == ("complete", "progression")
    assert episode.ended == state.view.progression_at
    assert course.status() == "active_disease"


def test_c02_pr_then_one_cr_is_a_confirmed_pr_and_the_cr_waits_for_its_own_repeat():
    # RECIST 1.1 §4.6 and Table 3: PR then CR = PR
    course = colorectal().assess("2024-01-05", **recist(30, baseline=True))
    course.assess("2024-03-01", **recist(15)).assess("2024-04-05", **recist(0))
    [episode] = course.state().view.episodes
    assert episode.kind == "partial" and episode.ended == 0
    assert course.status() == "partial_remission"
    course.assess("2024-05-03", **recist(0))  # the CR repeated 28 days later
    [episode] = course.state().view.episodes
    assert episode.kind == "complete"
    assert course.status() == "complete_remission"


def test_c03_one_cr_without_a_repeat_stays_unconfirmed_however_long_ago():
    # RECIST 1.1 §4.6; IMWG 2016: confirmation is a repeat assessment, not time
    course = Course(site="lung", stage="IIIA")
    course.assess("2024-01-05", **recist(40, baseline=True))
    course.treat("2024-01-10", "2024-03-01", "chemotherapy")
    course.assess("2024-04-01", **recist(0))
    assert course.state().view.episodes == ()
    assert course.status("2026-01-01") == "responding"
    course.assess("2024-04-20", **recist(0))  # 19 days: too early to confirm
    assert course.state().view.episodes == ()
    course.assess("2024-04-29", **recist(0))  # 28 days after the first CR: confirmed
    [episode] = course.state().view.episodes
    assert episode.started == int(at("2024-04-01").timestamp())
    assert course.status() == "complete_remission"


def test_c04_an_unconfirmed_cr_then_progression_is_no_episode():
    # RECIST 1.1 Table 3: CR then PD is not a confirmed response
    course = colorectal().assess("2024-01-05", **recist(30, baseline=True))
    course.assess("2024-03-01", **recist(0))
    course.assess("2024-06-01", **recist(0, new_lesions=True))
    other = {"lesion_id": "L2", "organ": "lung", "is_node": False}
    course.assess(
        "2024-09-01", system="recist", baseline=True, targets=[other | {"diameter_mm": 20}]
    )
    course.assess("2024-11-01", system="recist", targets=[other | {"diameter_mm": 0}])
    course.assess("2024-12-06", system="recist", targets=[other | {"diameter_mm": 0}])
    [episode] = course.state().view.episodes
    assert (episode.number, episode.started) == (1, int(at("2024-11-01").timestamp()))


# --- kind 2: progression rules, complete in every system ----------------------------------


def test_c06_who_one_lesion_up_80_percent_is_progression():
    # Miller 1981 (WHO), as tabulated in Wahl 2009 J Nucl Med Table 3
    course = Course(site="breast", stage="IV", intent="palliative", receptors={"er": "positive"})
    lesion = {"lesion_id": "A"}
    course.assess(
        "2024-01-05",
        system="who",
        baseline=True,
        lesions=[
            lesion | {"longest_mm": 40, "perpendicular_mm": 40},
            {"lesion_id": "B", "longest_mm": 10, "perpendicular_mm": 10},
        ],
    )
    course.assess(
        "2024-03-01",
        system="who",
        lesions=[
            lesion | {"longest_mm": 25, "perpendicular_mm": 25},
            {"lesion_id": "B", "longest_mm": 15, "perpendicular_mm": 12},
        ],
    )
    assert course.state().view.last_evaluation[1] == "PD"
    assert course.status() == "active_disease"


def test_c07_lugano_small_node_without_the_diameter_rule_is_not_progression():
    # Cheson 2014 (Lugano) CT-based PD: a node <= 2 cm at nadir needs +0.5 cm in LDi or SDi
    course = Course(site="dlbcl", stage="II")

    def nodes(n1: tuple[int, int], n2: tuple[int, int]) -> list[dict[str, Any]]:
        return [
            {"lesion_id": i, "longest_mm": a, "perpendicular_mm": b}
            for i, (a, b) in (("N1", n1), ("N2", n2))
        ]

    course.assess("2024-01-05", system="lugano", baseline=True, nodes=nodes((40, 30), (20, 12)))
    course.treat("2024-01-10", "2024-06-01", "chemotherapy")
    course.assess("2024-06-20", system="lugano", nodes=nodes((18, 12), (20, 12)))
    course.assess("2024-09-20", system="lugano", nodes=nodes((18, 12), (24, 15)))
    state = course.state()
    assert state.view.progression_at == 0
    assert state.view.last_evaluation[2] != "progression"
    assert course.status() == "partial_remission"  # Lugano sets no confirmatory scan


def test_c08_imwg_minimal_response_and_high_nadir_progression_confirmed_twice():
    # Kumar 2016 (IMWG): MR 25-49%; PD +1 g/dL over a nadir >= 5 g/dL; two consecutive
    course = Course(site="myeloma", intent="palliative")
    course.assess("2024-01-05", **imwg(8.0, baseline=True))
    course.assess("2024-03-01", **imwg(6.0)).assess("2024-04-01", **imwg(6.0))
    assert course.state().view.last_evaluation[1] == "MR"
    assert course.state().view.episodes == ()  # MR is not a partial remission
    course.assess("2024-05-01", **imwg(7.1))
    assert course.state().view.progression_at == 0  # one PD: pending
    course.assess("2024-06-01", **imwg(7.2))
    assert course.state().view.progression_at == int(at("2024-05-01").timestamp())
    assert course.status() == "active_disease"


def test_c09_one_imwg_progression_is_pending_and_surveillance_continues():
    # Kumar 2016 (IMWG): progression needs two consecutive assessments
    course = Course(site="myeloma")
    course.assess("2024-01-05", **imwg(3.0, baseline=True))
    cr = imwg(0, "negative", marrow_plasma_cells_pct=2)
    course.assess("2024-06-01", **cr).assess("2024-07-15", **cr)
    course.assess("2024-10-01", **imwg(0.6, urine_immunofixation="negative"))
    state = course.state()
    [episode] = state.view.episodes
    assert episode.ended == 0
    where = standing(state.view, at("2025-06-01"))
    assert where.status == "progression_unconfirmed" and where.anchor is not None
    course.assess("2024-11-01", **imwg(0.8, urine_immunofixation="negative"))
    [episode] = course.state().view.episodes
    assert (episode.ended, episode.ended_by) == (int(at("2024-10-01").timestamp()), "progression")


def immune(mm: float, day: str, new: bool = False) -> dict[str, Any]:
    return recist(mm, immune=True, assessed_on=day, new_lesions=new) | {
        "targets": [{"lesion_id": "L1", "organ": "lung", "is_node": False, "diameter_mm": mm}]
    }


def test_c12_irecist_the_same_new_lesion_unchanged_stays_iupd():
    # Seymour 2017 (iRECIST) Table 2: iCPD needs new lesions to grow or multiply
    course = Course(site="melanoma", stage="IV", intent="palliative")
    course.assess("2024-01-05", **immune(30, "2024-01-05") | {"baseline": True})
    course.assess("2024-03-01", **immune(28, "2024-03-01", new=True))
    course.assess("2024-04-05", **immune(20, "2024-04-05", new=True))
    state = course.state()
    assert state.view.last_evaluation[1] == "iUPD"
    assert state.view.progression_at == 0


def test_c12_measured_new_lesions_that_grow_confirm_icpd():
    course = Course(site="melanoma", stage="IV", intent="palliative")
    course.assess("2024-01-05", **immune(30, "2024-01-05") | {"baseline": True})

    def new(mm: float) -> dict[str, Any]:
        lesion = {"lesion_id": "N1", "organ": "liver", "is_node": False, "diameter_mm": mm}
        return {"new_lesion_targets": [lesion]}

    course.assess("2024-03-01", **immune(28, "2024-03-01", new=True) | new(12))
    course.assess("2024-04-05", **immune(20, "2024-04-05", new=True) | new(17))
    assert course.state().view.last_evaluation[1] == "iCPD"
    assert course.status() == "active_disease"


def test_c14_eln_relapse_after_cr_whatever_came_between():
    # Döhner 2022 (ELN): relapse = blasts >= 5% after CR/CRh/CRi
    course = Course(site="aml", flags=["npm1_mutated"])
    course.assess("2024-03-01", **eln(2, 1.8, 150)).assess("2024-04-05", **eln(2, 1.6, 140))
    course.assess("2024-06-01", **eln(1, 0.3, 30)).assess("2024-09-01", **eln(12, 1.5, 120))
    state = course.state()
    [episode] = state.view.episodes
    assert (episode.kind, episode.ended_by) == ("complete", "progression")
    assert state.view.last_evaluation[1] == "relapse"


def mrd(day: str, detected: bool, course: Course, sensitivity: float = 1e-5) -> None:
    course.assess(day, system="mrd", method="pcr", sensitivity=sensitivity, detected=detected)


def test_c15_mrd_conversion_is_an_mrd_relapse_alert_and_ends_mrd_negative_depth():
    # Heuser 2021 (ELN MRD): conversion confirmed by a second positive sample; Döhner 2022
    course = Course(site="aml", flags=["npm1_mutated"])
    course.treat("2024-01-05", "2024-02-20", "chemotherapy")
    course.assess("2024-03-01", **eln(2, 1.8, 150)).assess("2024-04-05", **eln(2, 1.6, 140))
    mrd("2024-04-05", False, course)
    [episode] = course.state().view.episodes
    assert episode.depth == "MRD-negative (pcr, 1e-05)"
    mrd("2024-07-01", True, course)
    assert course.state().view.molecular_relapse_at == 0  # one positive: not yet
    mrd("2024-07-25", True, course)
    state = course.state()
    [episode] = state.view.episodes
    assert episode.depth == "CR" and episode.ended == 0
    plan = forecast(state, at("2024-07-26"), load_catalog())
    [alert] = [a for a in plan.alerts if a.kind is AlertKind.MOLECULAR_RELAPSE]
    assert alert.raised_at == at("2024-07-25")
    # an MRD result is the MRD surveillance item done
    [item] = [d for d in plan.items if d.item == "npm1_mrd"]
    assert item.last_done == date(2024, 7, 25)
    assert not [a for a in plan.alerts if a.kind is AlertKind.OVERDUE]


def thyroid(course: Course) -> Course:
    course.treat("2023-01-10", "2023-01-10", "surgery")
    return course.treat("2023-03-01", "2023-03-02", "radioiodine", role="adjuvant")


def ata(tg: float) -> dict[str, Any]:
    return {"system": "ata", "imaging": "negative", "tg_ng_ml": tg, "tg_antibodies": "absent"}


def test_c16_biochemical_incomplete_ends_the_remission_and_tg_goes_6_to_12_monthly():
    # Haugen 2016 (ATA 2015) R62: Tg with TgAb every 6-12 months after an incomplete response
    course = thyroid(Course(site="thyroid", stage="I"))
    course.assess("2023-10-02", **ata(0.1)).assess("2023-11-06", **ata(0.1))
    course.assess("2024-10-01", **ata(2.4))
    course.add(
        "2024-10-01", "lab.resulted", order_id="TG-2", loinc="3013-0", value=2.4, unit="ng/mL"
    )
    state = course.state()
    [episode] = state.view.episodes
    assert episode.ended_by == "ata biochemical_incomplete"
    assert course.status() == "remission_ended"
    [tg] = [
        d for d in forecast(state, at("2025-01-01"), load_catalog()).items if "thyroglob" in d.item
    ]
    assert (tg.item, tg.due) == (
        "thyroglobulin_incomplete",
        date(2025, 4, 1),
    )  # 6-12 months, due at 6


def test_c31_tg_antibodies_put_tg_on_the_indeterminate_schedule():
    # Haugen 2016 (ATA 2015): TgAb-positive, Tg is read with the TgAb trend, as indeterminate
    course = thyroid(Course(site="thyroid", stage="I", flags=["tg_antibodies"]))
    course.add("2023-10-02", "lab.resulted", order_id="A", loinc="8098-6", value=180, unit="IU/mL")
    plan = forecast(course.state(), at("2024-01-01"), load_catalog())
    [tg] = [d for d in plan.items if "thyroglob" in d.item]
    assert (tg.item, tg.due) == (
        "thyroglobulin_incomplete",
        date(2024, 4, 2),
    )  # 6-12 months, due at 6
    without = thyroid(Course(site="thyroid", stage="I"))
    without.add("2023-10-02", "lab.resulted", order_id="A", loinc="8098-6", value=1, unit="IU/mL")
    plan = forecast(without.state(), at("2024-01-01"), load_catalog())
    [tg] = [d for d in plan.items if "thyroglob" in d.item]
    assert tg.item == "thyroglobulin"  # 12-24 months when excellent or unknown without TgAb


def test_c17_ctc_stemness_markers_back_end_the_ctc_remission():
    # seed 001: remission needs CTC 0-1 AND markers negative or dim
    course = Course(site="breast", stage="IV", intent="palliative", flags=["metastatic"])
    course.add(
        "2024-01-05",
        "treatment.started",
        treatment_id="thp",
        modality="targeted",
        role="maintenance",
    )
    for day, count, phenotype in (
        ("2024-04-01", 0, "negative"),
        ("2024-07-01", 1, "dim"),
        ("2024-10-01", 1, "positive"),
        ("2025-01-02", 0, "positive"),
    ):
        course.assess(day, system="ctc", count=count, phenotype=phenotype)
    [episode] = course.state().view.episodes
    assert (episode.ended, episode.ended_by) == (
        int(at("2024-10-01").timestamp()),
        "ctc stemness-active",
    )
    assert course.status() == "remission_ended"


# --- kind 3: depth and sensitivity -------------------------------------------------------


def test_c18_myeloma_mrd_at_1e_4_is_not_mrd_negative():
    # Kumar 2016 (IMWG): MRD-negative needs a sensitivity of 1e-5 or better
    course = Course(site="myeloma")
    course.assess("2024-01-05", **imwg(3.0, baseline=True))
    cr = imwg(0, "negative", marrow_plasma_cells_pct=2)
    course.assess("2024-06-01", **cr).assess("2024-07-15", **cr)
    course.assess("2024-07-20", system="mrd", method="flow", sensitivity=1e-4, detected=False)
    [episode] = course.state().view.episodes
    assert episode.depth == "CR"
    mrd("2024-08-20", False, course, sensitivity=1e-5)
    [episode] = course.state().view.episodes
    assert episode.depth == "MRD-negative (pcr, 1e-05)"


def test_episode_depth_is_the_deepest_shown_not_the_latest():
    course = Course(site="myeloma")
    course.assess("2024-01-05", **imwg(3.0, baseline=True))
    cr = imwg(0, "negative", marrow_plasma_cells_pct=2)
    course.assess("2024-06-01", **cr).assess("2024-07-15", **cr)
    mrd("2024-07-20", False, course)
    course.assess("2024-09-01", **imwg(0.2))  # VGPR-level reading later: depth stays
    [episode] = course.state().view.episodes
    assert (episode.kind, episode.depth) == ("complete", "MRD-negative (pcr, 1e-05)")


# --- kind 4: resected is not partial ------------------------------------------------------


def test_c20_residual_disease_after_neoadjuvant_therapy_and_surgery_is_ned_not_partial():
    # FDA 2020 pCR guidance; DOMAIN.md §1: partial remission means tumour still present
    course = Course(
        site="breast",
        stage="IIB",
        receptors={"er": "negative", "pr": "negative", "her2": "positive"},
    )
    course.treat("2024-01-10", "2024-05-01", "chemotherapy", role="neoadjuvant")
    course.treat("2024-05-20", "2024-05-20", "surgery")
    course.assess(
        "2024-05-27",
        system="pathologic",
        residual_invasive_breast=True,
        residual_invasive_nodes=False,
        ypt="ypT1a",
        ypn="ypN0",
    )
    [episode] = course.state().view.episodes
    assert episode.kind == "complete"
    assert episode.depth == "NED after resection (not pCR)"
    assert course.status() != "partial_remission"


# --- kind 5: RECIST target selection ------------------------------------------------------


@pytest.mark.parametrize(
    ("regions", "accepted"),
    [(("mediastinum", "axilla", "retroperitoneum"), False), (("mediastinum", "axilla"), True)],
)
def test_f02_three_nodal_targets_in_different_regions_are_refused(regions, accepted):
    # EORTC RECIST 1.1 FAQ: lymph nodes, whatever the region, are one organ
    from pydantic import ValidationError

    raw = {
        "type": "response.assessed",
        "event_id": "fhir:rad:DiagnosticReport/FC-1",
        "patient_id": "fc-lung-1",
        "occurred_at": "2026-02-01T10:00:00Z",
        "recorded_at": "2026-02-01T12:00:00Z",
        "source": "fhir:radiology",
        "assessment": {
            "system": "recist",
            "baseline": True,
            "targets": [
                {"lesion_id": f"N{i}", "organ": region, "is_node": True, "diameter_mm": 20}
                for i, region in enumerate(regions)
            ],
            "non_target": "present",
        },
    }
    if accepted:
        parse_event(raw)
    else:
        with pytest.raises(ValidationError, match="lymph nodes, whatever the region"):
            parse_event(raw)


def test_the_today_of_the_report_does_not_confirm_anything():
    course = colorectal().assess("2024-01-05", **recist(30, baseline=True))
    course.assess("2024-03-01", **recist(0))
    view = course.state().view
    assert {standing(view, at(d)).status for d in ("2024-03-02", "2024-04-01", "2030-01-01")} == {
        "responding"
    }
    assert UTC  # the module's times are all aware


def test_an_imwg_episode_deepened_from_pr_to_vgpr_takes_the_deeper_basis():
    # Kumar 2016 (IMWG): two consecutive VGPRs confirm VGPR; seen again later, nothing waits
    course = Course(site="myeloma")
    course.assess("2024-01-05", **imwg(10.0, baseline=True))
    course.assess("2024-02-01", **imwg(4.0)).assess("2024-03-01", **imwg(4.0))
    course.assess("2024-04-01", **imwg(0.5)).assess("2024-05-01", **imwg(0.5))
    course.assess("2024-06-01", **imwg(0.5))
    state = course.state()
    [episode] = state.view.episodes
    assert (episode.kind, episode.basis) == ("partial", "imwg VGPR")
    assert state.view.pending == ()


def test_the_explanation_uses_the_disease_threshold():
    from models.state import explain_last_response

    course = Course(site="myeloma")
    course.assess("2024-07-20", system="mrd", method="flow", sensitivity=1e-4, detected=False)
    explained = explain_last_response(course.state())
    assert explained is not None and explained.category == "MRD-negative-insufficient"


def test_c12_the_standing_says_the_progression_is_unconfirmed():
    course = Course(site="melanoma", stage="IV", intent="palliative")
    course.assess("2024-01-05", **immune(30, "2024-01-05") | {"baseline": True})
    course.assess("2024-03-01", **immune(28, "2024-03-01", new=True))
    course.assess("2024-04-05", **immune(20, "2024-04-05", new=True))
    assert course.status() == "progression_unconfirmed"
