"""The schedule cases of issue 13 (c21, c32, c33, ...), each with the right value and its source.

Each test rebuilds the case file's patient from its own events (tests never read the shared
case files) and checks the window the source gives.
"""

from __future__ import annotations

from datetime import date

from protocol_patients import Patient

from models.outputs import AlertKind


def test_c21_first_mammogram_waits_for_a_year_after_diagnosis_and_6_months_after_rt(
    catalog,
) -> None:
    # ASCO 2006, reaffirmed 2012 (Khatcheressian): the first post-treatment mammogram 1 year
    # after the diagnostic one and no earlier than 6 months after radiation ends. RT ended
    # 2024-03-29 (+6 months: 2024-09-29); no diagnostic mammogram date is sent, enrolment
    # (2024-01-08) is its latest possible date (+1 year: 2025-01-08): the later one wins.
    patient = Patient().enrol(
        date(2024, 1, 8),
        site="breast",
        stage="IA",
        receptors={"er": "positive", "pr": "positive", "her2": "negative"},
    )
    patient.treated(date(2024, 1, 22), date(2024, 1, 22))
    patient.treated(date(2024, 2, 19), date(2024, 3, 29), "radiotherapy", role="adjuvant")
    mammogram = patient.items(date(2024, 9, 1), catalog)["mammogram"]
    assert mammogram.earliest == date(2025, 1, 8)  # the window does not open before it
    assert mammogram.due == date(2025, 1, 8)
    assert mammogram.overdue == date(2025, 4, 28)  # 12 months after RT end + 30 days' grace


def test_c21_radiation_ending_late_makes_rt_the_later_bound(catalog) -> None:
    patient = Patient().enrol(date(2024, 1, 8), site="breast", stage="IIA")
    patient.treated(date(2024, 2, 1), date(2024, 6, 1), "chemotherapy", role="adjuvant")
    patient.treated(date(2024, 6, 20), date(2024, 8, 20), "radiotherapy", role="adjuvant")
    mammogram = patient.items(date(2024, 9, 1), catalog)["mammogram"]
    assert mammogram.due == date(2025, 2, 20)  # RT end + 6 months is after enrolment + 1 year


def test_c33_er_negative_visit_is_not_overdue_inside_ascos_range(catalog) -> None:
    # ASCO 2006/2012: history and physical every 3-6 months in years 1-3. Last visit
    # 2024-09-20: due at 3 months (2024-12-20), overdue only after 6 months + 7 days' grace.
    patient = Patient().enrol(
        date(2024, 1, 2),
        site="breast",
        stage="IIA",
        receptors={"er": "negative", "pr": "negative", "her2": "negative"},
    )
    patient.treated(date(2024, 1, 15), date(2024, 1, 15))
    patient.treated(date(2024, 2, 5), date(2024, 6, 20), "chemotherapy", role="adjuvant")
    patient.add("visit.completed", date(2024, 9, 20), item="history_physical")
    plan = patient.forecast(date(2025, 1, 1), catalog)
    visit = {d.item: d for d in plan.items}["history_physical"]
    assert (visit.due, visit.overdue) == (date(2024, 12, 20), date(2025, 3, 27))
    assert plan.protocol == "breast-asco-er-negative@2012.1"
    assert not [a for a in plan.alerts if a.kind is AlertKind.OVERDUE]
    late = patient.forecast(date(2025, 3, 27), catalog)
    assert [a.item for a in late.alerts if a.kind is AlertKind.OVERDUE] == ["history_physical"]


def test_c32_a_psa_before_six_weeks_is_not_the_first(catalog) -> None:
    # NCCN prostate: the first PSA 6 weeks to 3 months after prostatectomy. Surgery
    # 2024-01-15; a PSA on 2024-02-13 (4 weeks) has not cleared and does not count.
    patient = Patient().enrol(
        date(2024, 1, 2), site="prostate", stage="II", flags=["prostatectomy"]
    )
    patient.treated(date(2024, 1, 15), date(2024, 1, 15))
    patient.add("lab.resulted", date(2024, 2, 13), order_id="P1", loinc="2857-1", value=0.3)
    psa = patient.items(date(2024, 2, 20), catalog)["psa_after_prostatectomy"]
    assert psa.due == date(2024, 2, 26)  # 6 weeks
    assert psa.earliest == date(2024, 2, 26)  # no reminder before 6 weeks
    assert psa.overdue == date(2024, 4, 22)  # 13 weeks + 7 days' grace
    assert psa.last_done is None
    assert "2024-02-13 was too early to count as the first" in psa.reason
    # One drawn at 6 weeks is the first: the next is 6-12 months later.
    patient.add("lab.resulted", date(2024, 2, 26), order_id="P2", loinc="2857-1", value=0.02)
    assert patient.items(date(2024, 3, 1), catalog)["psa_after_prostatectomy"].due == date(
        2024, 8, 26
    )


def _her2_metastatic(enrolled: date) -> Patient:
    return Patient().enrol(
        enrolled,
        site="breast",
        stage="IV",
        intent="palliative",
        flags=["metastatic"],
        receptors={"er": "negative", "her2": "positive"},
    )


def test_c22_her2_metastatic_checkpoint_runs_during_maintenance_before_remission(
    catalog,
) -> None:
    # Seed 001, three-month checkpoint: clinical evaluation, imaging and markers every 3
    # months during treatment. CTC 3 with positive phenotype: not in remission.
    patient = _her2_metastatic(date(2024, 1, 2))
    patient.add(
        "treatment.started",
        date(2024, 1, 8),
        treatment_id="thp",
        modality="targeted",
        role="maintenance",
    )
    patient.add(
        "response.assessed",
        date(2024, 4, 5),
        assessment={"system": "ctc", "count": 3, "phenotype": "positive"},
    )
    items = patient.items(date(2024, 4, 10), catalog)
    assert {i: d.due for i, d in items.items()} == {
        "checkpoint_visit": date(2024, 4, 2),
        "checkpoint_imaging": date(2024, 4, 2),
        "checkpoint_markers": date(2024, 4, 2),
        "checkpoint_ctc": date(2024, 4, 2),
        "mammogram": date(2025, 1, 2),
    }


def test_c23_her2_metastatic_in_remission_is_yearly_after_year_5_with_a_mammogram(
    catalog,
) -> None:
    # Seed 000: visits every few months for 5 years, then yearly; a yearly mammogram unless
    # bilateral mastectomy. Seed 001: at least annually once in remission.
    patient = _her2_metastatic(date(2018, 1, 2))
    patient.add(
        "treatment.started",
        date(2018, 1, 8),
        treatment_id="thp",
        modality="targeted",
        role="maintenance",
    )
    patient.add(
        "response.assessed",
        date(2018, 4, 2),
        assessment={"system": "ctc", "count": 0, "phenotype": "negative"},
    )
    patient.add(
        "response.assessed",
        date(2018, 7, 2),
        assessment={"system": "ctc", "count": 0, "phenotype": "dim"},
    )
    june = date(2024, 6, 3)
    patient.add("visit.completed", june, item="history_physical")
    patient.add("scan.completed", june, order_id="CT-9", item="ct_chest_abdomen_pelvis")
    patient.add("lab.resulted", june, order_id="M-9", loinc="17842-6", value=20)
    patient.add("visit.completed", june, item="ctc_phenotype")
    plan = patient.forecast(date(2024, 7, 1), catalog)
    assert plan.standing.status == "complete_remission"
    items = {d.item: d for d in plan.items if d.kind.value == "due"}
    yearly = date(2025, 6, 3)
    assert {i: d.due for i, d in items.items() if i != "mammogram"} == {
        "clinical_evaluation": yearly,
        "imaging": yearly,
        "tumour_markers": yearly,
        "ctc_phenotype": yearly,
    }
    assert items["mammogram"].due == date(2019, 1, 2)  # never done: due since year 1
    mastectomy = _her2_metastatic(date(2018, 1, 2))
    mastectomy.enrol(
        date(2018, 1, 2),
        site="breast",
        stage="IV",
        intent="palliative",
        flags=["metastatic", "bilateral_mastectomy"],
        receptors={"her2": "positive"},
    )
    assert "mammogram" not in mastectomy.items(date(2018, 2, 1), catalog)


def test_c24_colon_stage_i_colonoscopy_only(catalog) -> None:
    # NCCN Colon 2022: stage I, colonoscopy at 1 year; no H&P, CEA or CT schedule.
    patient = Patient().enrol(date(2024, 1, 2), site="colorectal", stage="I")
    patient.treated(date(2024, 1, 15), date(2024, 1, 15))
    plan = patient.forecast(date(2024, 2, 1), catalog)
    assert [d.item for d in plan.items if d.kind.value == "due"] == ["colonoscopy"]
    assert plan.items[0].due == date(2025, 1, 15)


def test_c26_small_cell_is_reminded_of_brain_mri_and_not_told_it_is_not_needed(catalog) -> None:
    # ASCO 2019 (Schneider 2020): "no brain MRI" is for stage I-III NSCLC only.
    patient = Patient().enrol(date(2024, 1, 2), site="lung", subtype="small_cell", stage="IIIA")
    patient.treated(date(2024, 1, 10), date(2024, 4, 10), "chemotherapy")
    plan = patient.forecast(date(2024, 5, 1), catalog)
    assert plan.protocol == "lung-asco-sclc@2019.1"
    assert {d.item: d.due for d in plan.items if d.kind.value == "due"}["brain_mri"] == date(
        2024, 7, 10
    )
    assert not [what for what, _, _ in plan.not_reminded if "Brain MRI" in what]
    nsclc = Patient().enrol(date(2024, 1, 2), site="lung", subtype="squamous", stage="IIIA")
    nsclc.treated(date(2024, 1, 10), date(2024, 4, 10), "chemotherapy")
    nsclc_plan = nsclc.forecast(date(2024, 5, 1), catalog)
    assert [what for what, _, _ in nsclc_plan.not_reminded if "Brain MRI" in what]


def test_c27_seminoma_markers_six_monthly_and_the_18_month_ct(catalog) -> None:
    # EAU/ESMO via Eur Urol Open Sci 2022;44:142 Table 1: seminoma STM 6-monthly, CTAP every
    # 6 months in years 1-2.
    patient = Patient().enrol(date(2024, 1, 2), site="testicular", subtype="seminoma", stage="IA")
    patient.treated(date(2024, 1, 8), date(2024, 1, 8))
    patient.add("scan.completed", date(2024, 7, 8), order_id="ct1", item="ct_abdomen_pelvis")
    patient.add("scan.completed", date(2025, 1, 8), order_id="ct2", item="ct_abdomen_pelvis")
    patient.add("lab.resulted", date(2025, 1, 8), order_id="m4", loinc="19080-1", value=1)
    items = patient.items(date(2025, 2, 1), catalog)
    assert items["ct_abdomen_pelvis_seminoma"].due == date(2025, 7, 8)  # the 18-month CT
    assert items["tumour_markers_seminoma"].due == date(2025, 7, 8)  # 6 months, not 3
    assert "chest_xray" not in items


def test_c28_nonseminoma_no_ct_in_year_4_and_chest_xrays_in_years_1_2(catalog) -> None:
    patient = Patient().enrol(
        date(2020, 1, 2), site="testicular", subtype="nonseminoma", stage="IA"
    )
    patient.treated(date(2020, 1, 8), date(2020, 1, 8))
    for n, day in enumerate(
        (date(2020, 7, 8), date(2021, 1, 8), date(2022, 1, 10), date(2023, 1, 9)), start=1
    ):
        patient.add("scan.completed", day, order_id=f"ct{n}", item="ct_abdomen_pelvis")
    items = patient.items(date(2023, 2, 1), catalog)
    assert items["ct_abdomen_pelvis"].due == date(2025, 1, 8)  # year 5, none in year 4
    fresh = Patient().enrol(date(2020, 1, 2), site="testicular", subtype="nonseminoma", stage="IA")
    fresh.treated(date(2020, 1, 8), date(2020, 1, 8))
    assert fresh.items(date(2020, 2, 1), catalog)["chest_xray"].due == date(2020, 7, 8)


def test_f09_psa_under_83112_3_counts_as_a_psa(catalog) -> None:
    # NLM VSAC 2.16.840.1.113883.3.526.3.401 and mCODE: 83112-3 is PSA by immunoassay.
    def after_radiotherapy(code: str) -> Patient:
        patient = Patient().enrol(
            date(2026, 1, 5), site="prostate", stage="II", flags=["prostate_radiotherapy"]
        )
        patient.treated(date(2026, 1, 12), date(2026, 2, 20), "radiotherapy")
        patient.add("lab.resulted", date(2026, 8, 18), order_id="F77", loinc=code, value=0.6)
        return patient

    for code in ("83112-3", "2857-1"):
        plan = after_radiotherapy(code).forecast(date(2026, 9, 1), catalog)
        psa = {d.item: d for d in plan.items}["psa"]
        assert (psa.last_done, psa.due) == (date(2026, 8, 18), date(2027, 2, 18))
        assert plan.unmapped == ()


def test_a_result_whose_code_maps_to_nothing_is_reported_not_dropped(catalog) -> None:
    patient = Patient().enrol(
        date(2026, 1, 5), site="prostate", stage="II", flags=["prostate_radiotherapy"]
    )
    patient.treated(date(2026, 1, 12), date(2026, 2, 20), "radiotherapy")
    patient.add("lab.resulted", date(2026, 8, 18), order_id="F77", loinc="2951-2", value=140)
    patient.add("lab.resulted", date(2026, 8, 18), order_id="F78", loinc="10886-0", value=0.1)
    plan = patient.forecast(date(2026, 9, 1), catalog)
    assert plan.unmapped == ("2951-2",)  # free PSA (10886-0) is known: related, not unmapped
    assert {d.item: d for d in plan.items}["psa"].last_done is None


def test_the_timeline_shows_an_unmapped_result(catalog) -> None:
    from datetime import UTC, datetime

    from remission_watch.timeline import render_text, timeline

    patient = Patient().enrol(
        date(2026, 1, 5), site="prostate", stage="II", flags=["prostate_radiotherapy"]
    )
    patient.treated(date(2026, 1, 12), date(2026, 2, 20), "radiotherapy")
    patient.add("lab.resulted", date(2026, 8, 18), order_id="F77", loinc="2951-2", value=140)
    lines = [e.model_dump_json() for e in patient.events]
    report = timeline(lines, datetime(2026, 9, 1, tzinfo=UTC), catalog)
    (described,) = report["patients"]
    assert described["unmapped_results"] == [{"loinc": "2951-2", "last": "2026-08-18"}]
    assert "UNMAPPED lab result: LOINC 2951-2 (last 2026-08-18)" in render_text(report)
