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
    # One drawn at 6 weeks is the first: the next is 6-12 months later.
    patient.add("lab.resulted", date(2024, 2, 26), order_id="P2", loinc="2857-1", value=0.02)
    assert patient.items(date(2024, 3, 1), catalog)["psa_after_prostatectomy"].due == date(
        2024, 8, 26
    )
