"""Every protocol file, walked for five years by a patient of each subgroup it distinguishes.

The patient does each item on the day it falls due; the walk records, per item, the months
after the anchor at which it fell due. Each expected table below is written from the cited
source's own table or text (not from the protocol file), so a file that drifts from its
source fails here. `every(a, b, step)` is "months a, a+step, ... b".
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from protocol_patients import CATALOG, Patient, every, walk, walk_dates

from models.dates import add_days, add_months

ENROLLED = date(2024, 1, 10)
SURGERY = date(2024, 1, 24)
END = date(2024, 7, 10)  # end of treatment: the anchor of treatment_end protocols


def treated(site: str, *, end: date = END, **enrolment: object) -> Patient:
    """Enrolled on ENROLLED, surgery on SURGERY, adjuvant treatment until `end`."""
    patient = Patient().enrol(ENROLLED, site=site, **enrolment)
    patient.treated(SURGERY, SURGERY)
    if end > SURGERY:
        patient.treated(SURGERY + timedelta(days=21), end, "radiotherapy", role="adjuvant")
    return patient


def walked(site: str, **enrolment: object) -> dict[str, list[int]]:
    return walk(treated(site, **enrolment), CATALOG)


def chosen(patient: Patient) -> str | None:
    return patient.forecast(END + timedelta(days=1), CATALOG).protocol


# --- breast: ASCO 2006, reaffirmed 2012 (Khatcheressian, J Clin Oncol 2013;31:961) ---
# History and physical every 3-6 months in years 1-3, every 6-12 months in years 4-5, yearly
# after; first mammogram 1 year after the diagnostic one (enrolment: 6 months before the end of
# treatment here, so month 6) and at least 6 months after radiation, then yearly; a yearly
# pelvic examination on tamoxifen with a uterus; no mammogram after bilateral mastectomy.
ASCO_VISITS = [*every(3, 36, 3), 42, 48, 54, 60]
ASCO_MAMMOGRAMS = [6, 18, 30, 42, 54]


@pytest.mark.parametrize(
    ("receptors", "protocol"),
    [
        ({"er": "positive", "pr": "positive", "her2": "negative"}, "breast-asco-er-positive"),
        ({"er": "negative", "pr": "negative", "her2": "negative"}, "breast-asco-er-negative"),
        ({"er": "positive", "her2": "positive"}, "breast-asco-her2-positive"),
        ({}, "breast-asco"),
    ],
)
def test_breast_asco_each_receptor_group(receptors: dict[str, str], protocol: str) -> None:
    patient = treated("breast", stage="IIA", receptors=receptors)
    assert chosen(patient) == f"{protocol}@2012.1"
    assert walk(patient, CATALOG) == {
        "history_physical": ASCO_VISITS,
        "mammogram": ASCO_MAMMOGRAMS,
    }


def test_breast_asco_after_bilateral_mastectomy_and_on_tamoxifen() -> None:
    assert walked("breast", stage="IA", flags=["bilateral_mastectomy"]) == {
        "history_physical": ASCO_VISITS,
    }
    assert walked("breast", stage="IA", flags=["on_tamoxifen", "uterus_present"]) == {
        "history_physical": ASCO_VISITS,
        "mammogram": ASCO_MAMMOGRAMS,
        "pelvic_exam": every(12, 60, 12),
    }


# --- HER2+ metastatic breast: seed 001 checkpoint, seed 000 follow-up ---
def test_her2_metastatic_on_treatment_every_three_months_from_enrolment() -> None:
    # Seed 001: every 3 months a clinical evaluation, imaging, tumour markers (and CTC) while
    # on treatment (maintenance therapy for years, case c22); seed 000: a yearly mammogram.
    patient = Patient().enrol(
        ENROLLED,
        site="breast",
        stage="IV",
        intent="palliative",
        flags=["metastatic"],
        receptors={"er": "negative", "her2": "positive"},
    )
    patient.add(
        "treatment.started", ENROLLED, treatment_id="thp", modality="targeted", role="maintenance"
    )
    quarterly = every(3, 60, 3)
    assert walk(patient, CATALOG) == {
        "checkpoint_visit": quarterly,
        "checkpoint_imaging": quarterly,
        "checkpoint_markers": quarterly,
        "checkpoint_ctc": quarterly,
        "mammogram": every(12, 60, 12),
    }


def test_her2_metastatic_in_remission_tapers_after_five_years() -> None:
    # Seed 000: visits every few months (3-6) for the first five years, then yearly; seed 001:
    # imaging, markers and CTC at least yearly once in remission (case c23, seven years).
    patient = Patient().enrol(
        ENROLLED,
        site="breast",
        stage="IV",
        intent="palliative",
        flags=["metastatic"],
        receptors={"er": "negative", "her2": "positive"},
    )
    patient.add("status.declared", ENROLLED, status="complete_remission")
    yearly = every(12, 84, 12)
    assert walk(patient, CATALOG, years=7) == {
        "clinical_evaluation": [*every(3, 60, 3), 72, 84],
        "imaging": yearly,
        "tumour_markers": yearly,
        "ctc_phenotype": yearly,
        "mammogram": yearly,
    }


# --- colorectal: NCCN Colon Cancer 2022, surveillance (COL-8, COL-9) ---
COLONOSCOPY = [12, 48]  # at 1 year, then 3 years later (then 5 years later: past year 5)
NCCN_VISITS = [*every(3, 24, 3), *every(30, 60, 6)]  # 3-6 mo for 2 years, then 6 mo to 5


@pytest.mark.parametrize("stage", ["0", "I"])
def test_colorectal_nccn_stage_0_and_i_colonoscopy_only(stage: str) -> None:
    # Case c24: stage I was given H&P, CEA and CT.
    assert walked("colorectal", stage=stage) == {"colonoscopy": COLONOSCOPY}


@pytest.mark.parametrize("stage", ["IIA", "IIIB", None])
def test_colorectal_nccn_stage_ii_iii(stage: str | None) -> None:
    enrolment = {"stage": stage} if stage else {}
    assert walked("colorectal", **enrolment) == {
        "history_physical": NCCN_VISITS,
        "cea": NCCN_VISITS,
        "ct_chest_abdomen_pelvis": every(6, 60, 6),  # every 6-12 months to year 5
        "colonoscopy": COLONOSCOPY,
    }


def test_colorectal_nccn_stage_iv_ned_ct_every_3_to_6_months_for_2_years() -> None:
    assert walked("colorectal", stage="IVA") == {
        "history_physical": NCCN_VISITS,
        "cea": NCCN_VISITS,
        "ct_chest_abdomen_pelvis_stage_iv": [*every(3, 24, 3), *every(30, 60, 6)],
        "colonoscopy": COLONOSCOPY,
    }


def test_colorectal_nccn_no_preoperative_colonoscopy() -> None:
    result = walked("colorectal", stage="IIIA", flags=["no_preoperative_colonoscopy"])
    assert result["colonoscopy_early"] == [3, 39]  # 3-6 months after surgery, then 3 years
    assert "colonoscopy" not in result


def test_colorectal_esmo_chosen_explicitly() -> None:
    # ESMO 2020 (Argiles): H&P and CEA every 3-6 months for 3 years, then 6-12 to year 5; CT
    # every 6-12 months for 3 years, then yearly to 5; colonoscopy at 1 year, then 3-5 years.
    visits = [*every(3, 36, 3), 42, 48, 54, 60]
    assert walked("colorectal", stage="III", protocol="colorectal-esmo") == {
        "history_physical": visits,
        "cea": visits,
        "ct_chest_abdomen_pelvis": [*every(6, 36, 6), 48, 60],
        "colonoscopy": [12, 48],
    }


# --- lung: ASCO 2019 (Schneider, J Clin Oncol 2020;38:753) ---
def test_lung_nsclc_chest_ct_then_yearly_low_dose_ct() -> None:
    # Chest CT every 6 months for 2 years, then yearly low-dose CT; no brain MRI for NSCLC.
    patient = treated("lung", stage="IIB", subtype="adenocarcinoma")
    assert chosen(patient) == "lung-asco@2019.2"
    assert walk(patient, CATALOG) == {"ct_chest": [6, 12, 18, 24], "ldct_chest": [36, 48, 60]}


@pytest.mark.parametrize("subtype", ["small_cell", "Small-cell", "SCLC"])
def test_lung_sclc_adds_brain_mri_for_two_years(subtype: str) -> None:
    # Case c26: brain MRI every 3 months in year 1, every 6 months in year 2 for SCLC.
    patient = treated("lung", stage="IIIA", subtype=subtype)
    assert chosen(patient) == "lung-asco-sclc@2019.1"
    assert walk(patient, CATALOG) == {
        "ct_chest": [6, 12, 18, 24],
        "ldct_chest": [36, 48, 60],
        "brain_mri": [3, 6, 9, 12, 18, 24],
    }


# --- testicular: EAU/ESMO, Eur Urol Open Sci 2022;44:142 Tables 1 and 2 ---
def test_testicular_seminoma_stage_i() -> None:
    # Table 1, seminoma: STM 6/6/6/12/12, CTAP 6/6/12/-/12 (per year 1-5), no chest X-ray.
    assert walked("testicular", stage="IA", subtype="seminoma", end=SURGERY) == {
        "tumour_markers_seminoma": [*every(6, 36, 6), 48, 60],
        "ct_abdomen_pelvis_seminoma": [6, 12, 18, 24, 36, 60],
    }


@pytest.mark.parametrize("subtype", ["nonseminoma", "mixed germ cell", None])
def test_testicular_nonseminoma_stage_i_on_surveillance(subtype: str | None) -> None:
    # Table 1, nonseminoma AS: STM 3/3/6/6-12/(6-)12, CTAP 6/12/12/-/12, CXR 6/6/-/-/- (c28).
    enrolment = {"subtype": subtype} if subtype else {}
    assert walked("testicular", stage="IB", end=SURGERY, **enrolment) == {
        "tumour_markers": [*every(3, 24, 3), 30, 36, 42, 48, 60],
        "ct_abdomen_pelvis": [6, 12, 24, 36, 60],
        "chest_xray": [6, 12, 18, 24],
    }


GROUP_3 = {
    # Table 2 (EAU group 3): STM 3/3/6/6/6, CTAP and CXR 6-12/12/12/-/12.
    "tumour_markers": [*every(3, 24, 3), *every(30, 60, 6)],
    "ct_abdomen_pelvis": [6, 12, 24, 36, 60],
    "chest_xray": [6, 12, 24, 36, 60],
}


def test_testicular_nonseminoma_after_adjuvant_chemotherapy() -> None:
    result = walked(
        "testicular", stage="IB", subtype="nonseminoma", flags=["adjuvant_chemotherapy"]
    )
    assert result == {f"{item}_after_chemotherapy": months for item, months in GROUP_3.items()}


@pytest.mark.parametrize("stage", ["IS", "IIB", "IIIA"])
def test_testicular_stage_is_ii_iii_after_chemotherapy(stage: str) -> None:
    assert walked("testicular", stage=stage, subtype="nonseminoma") == GROUP_3


# --- prostate: NCCN (version not recorded) ---
def test_prostate_after_prostatectomy_first_psa_at_six_weeks() -> None:
    # First PSA 6 weeks to 3 months after prostatectomy, then every 6-12 months to year 5.
    patient = Patient().enrol(ENROLLED, site="prostate", stage="IIA", flags=["prostatectomy"])
    patient.treated(SURGERY, SURGERY)
    anchor, dates = walk_dates(patient, CATALOG)
    first = add_days(anchor, 42)
    assert dates == {"psa_after_prostatectomy": [add_months(first, m) for m in every(0, 54, 6)]}


def test_prostate_after_radiotherapy() -> None:
    patient = Patient().enrol(
        ENROLLED, site="prostate", stage="IIB", flags=["prostate_radiotherapy"]
    )
    patient.treated(SURGERY, END, "radiotherapy")
    assert walk(patient, CATALOG) == {"psa": every(6, 60, 6)}


# --- melanoma: NCCN (version not recorded) ---
def test_melanoma_ia_to_iia() -> None:
    # IA-IIA: H&P every 6-12 months for 5 years; skin examination yearly for life.
    assert walked("melanoma", stage="IB", end=SURGERY) == {
        "history_physical_low_risk": every(6, 60, 6),
        "skin_exam": every(12, 60, 12),
    }


@pytest.mark.parametrize("stage", ["IIB", "IIID", "IV"])
def test_melanoma_iib_to_iv(stage: str) -> None:
    # IIB-IV: every 3-6 months for 2 years, then 3-12 months for 3 years (c29: IIID).
    assert walked("melanoma", stage=stage, end=SURGERY) == {
        "history_physical_high_risk": every(3, 60, 3),
        "skin_exam": every(12, 60, 12),
    }


def test_melanoma_in_situ_skin_exam_only() -> None:
    assert walked("melanoma", stage="0", end=SURGERY) == {"skin_exam": every(12, 60, 12)}


# --- Hodgkin lymphoma: NCCN 2015 ---
def test_hodgkin_with_and_without_neck_radiation() -> None:
    # H&P every 3-6 months in years 1-2, 6-12 months in year 3, yearly after; yearly TSH after
    # neck radiation; mammography 8-10 years after chest radiation (past year 5).
    visits = [*every(3, 24, 3), 30, 36, 48, 60]
    assert walked("hodgkin", stage="IIA") == {"history_physical": visits}
    assert walked("hodgkin", stage="IIA", flags=["neck_radiation", "chest_radiation"]) == {
        "history_physical": visits,
        "tsh": every(12, 60, 12),
    }


# --- DLBCL: ESMO-style (check) ---
def test_dlbcl() -> None:
    # H&P every 3 months in year 1, 6 months in years 2-3, then yearly; CT at 6, 12, 24 months.
    assert walked("dlbcl", stage="II") == {
        "history_physical": [3, 6, 9, 12, 18, 24, 30, 36, 48, 60],
        "ct_chest_abdomen_pelvis": [6, 12, 24],
    }


# --- thyroid: ATA 2015 (Haugen, Thyroid 2016;26:1) ---
def test_thyroid_low_risk_high_risk_and_tg_antibodies() -> None:
    # Tg with TgAb 6-18 months after ablation, then every 12-24 months after an excellent
    # response, every 6-12 months for high risk or an indeterminate or incomplete response
    # (with Tg antibodies the fold derives that response, case c31); neck
    # ultrasound 6-12 months after surgery.
    assert walked("thyroid", stage="I") == {
        "thyroglobulin": [6, 18, 30, 42, 54],
        "neck_ultrasound": [6],
    }
    for flag, rule in (
        ("high_risk", "thyroglobulin_high_risk"),
        ("tg_antibodies", "thyroglobulin_incomplete"),  # read as indeterminate (clinical1)
    ):
        assert walked("thyroid", stage="I", flags=[flag]) == {
            rule: every(6, 60, 6),
            "neck_ultrasound": [6],
        }


# --- ovarian: NCCN (version not recorded) ---
def test_ovarian_with_and_without_a_raised_ca125() -> None:
    # Visits every 2-4 months for 2 years, 3-6 months for 3 years; CA-125 only if initially
    # raised, on the same schedule.
    visits = [*every(2, 24, 2), *every(27, 60, 3)]
    assert walked("ovarian", stage="IIIC") == {"history_physical": visits}
    assert walked("ovarian", stage="IIIC", flags=["marker_initially_raised"]) == {
        "history_physical": visits,
        "ca125": visits,
    }


# --- myeloma: EHA-ESMO 2021 (Dimopoulos) ---
def test_myeloma_in_complete_remission() -> None:
    # Labs every 3-6 months; marrow MRD every 12 months in CR or MRD-negative.
    patient = Patient().enrol(ENROLLED, site="myeloma", stage="II")
    patient.treated(SURGERY, END, "chemotherapy")
    patient.add("status.declared", END, status="complete_remission")
    assert walk(patient, CATALOG) == {
        "myeloma_labs": every(3, 60, 3),
        "marrow_mrd": every(12, 60, 12),
    }


# --- AML, NPM1-mutated: ELN 2021 MRD (Heuser) ---
def test_aml_npm1_mrd_every_three_months_for_two_years() -> None:
    patient = Patient().enrol(ENROLLED, site="aml", flags=["npm1_mutated"])
    patient.treated(SURGERY, END, "chemotherapy")
    assert walk(patient, CATALOG) == {"npm1_mrd": every(3, 24, 3)}


def test_every_shipped_protocol_is_walked_here() -> None:
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    for protocol in CATALOG:
        named = protocol.id in source or protocol.applies_to.site.value in source
        assert named, f"{protocol.id} has no five-year walk"
