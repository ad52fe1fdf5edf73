"""Enrolment accepts every valid stage group and every site; calendar dates stay dates.

Cases c29 (AJCC 8th edition stage groups), "site without a protocol" (issue 13, kind 2) and
f08 (a date-only "done elsewhere" is the same calendar date in every IANA zone).
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from protocol_patients import CATALOG, Patient, event, noon
from pydantic import ValidationError

from models.clocks import forecast
from models.outputs import AlertKind, CareTeamAlert
from models.stages import AJCC8_GROUPS, accepted_groups, stage_problem
from models.state import evolve

# --- c29: every AJCC 8th edition stage group is accepted --------------------------------------


@pytest.mark.parametrize(
    ("site", "stage"),
    [
        ("melanoma", "IIID"),  # AJCC 8th ed. ch. 47: IIID is new in the 8th edition
        ("testicular", "IS"),  # AJCC 8th ed. ch. 59: any T, N0, M0, S1-3
        ("lung", "IA3"),
        ("ovarian", "IIIA1"),
        ("colorectal", "IVC"),
        ("hodgkin", "IIE"),
        ("dlbcl", "IAE"),
        ("colorectal", "I"),  # less detail than the table is accepted
        ("pancreas", "IIB"),  # a site without a table: the general syntax
    ],
)
def test_a_valid_stage_group_enrols_the_patient(site: str, stage: str) -> None:
    patient = Patient().enrol(date(2024, 1, 2), site=site, stage=stage)
    assert patient.state is not None
    assert patient.state.view.profile is not None
    assert patient.state.view.profile.stage == stage


@pytest.mark.parametrize("site", sorted(AJCC8_GROUPS))
def test_every_group_of_every_site_is_accepted(site: str) -> None:
    for group in AJCC8_GROUPS[site][1]:
        event("patient.enrolled", date(2024, 1, 2), site=site, stage=group)


@pytest.mark.parametrize(
    ("site", "stage"),
    [("breast", "IIID"), ("breast", "IS"), ("prostate", "IIID"), ("melanoma", "IIIE")],
)
def test_a_stage_group_the_site_does_not_have_is_refused_with_its_list(
    site: str, stage: str
) -> None:
    with pytest.raises(ValidationError, match=f"stage '{stage}' is not a stage group for {site}"):
        event("patient.enrolled", date(2024, 1, 2), site=site, stage=stage)


def test_less_detail_is_accepted_but_not_more() -> None:
    groups = accepted_groups("lung")
    assert groups is not None
    assert {"I", "IA", "IA1", "III", "IIIC", "IV", "IVB"} <= groups
    assert "IA4" not in groups
    assert stage_problem("lung", "IA4") is not None


def test_the_case_file_patients_are_enrolled_and_scheduled(catalog) -> None:
    # c29: melanoma IIID gets the high-risk (IIB-IV) visits; testicular IS is enrolled.
    melanoma = Patient().enrol(date(2024, 1, 2), site="melanoma", stage="IIID")
    melanoma.treated(date(2024, 1, 10), date(2024, 1, 10))
    items = melanoma.items(date(2024, 2, 1), catalog)
    assert "history_physical_high_risk" in items
    assert "history_physical_low_risk" not in items
    testis = Patient().enrol(date(2024, 1, 2), site="testicular", stage="IS")
    assert testis.state is not None and testis.state.view.profile is not None


# --- a site without a protocol: enrolled, one notice, later events folded ------------------------


@pytest.mark.parametrize("site", ["pancreas", "colon", "kidney"])
def test_a_site_without_a_protocol_is_enrolled_with_one_care_team_notice(
    site: str, catalog
) -> None:
    patient = Patient().enrol(date(2024, 1, 2), site=site, stage="II")
    patient.treated(date(2024, 1, 15), date(2024, 1, 15))
    patient.add("visit.completed", date(2024, 4, 1), item="history_physical")
    assert patient.state is not None
    assert patient.state.event_count == 4  # nothing is "no enrolment"

    plan = patient.forecast(date(2024, 5, 1), catalog)
    assert plan.protocol is None
    assert [d for d in plan.items if d.kind.value == "due"] == []
    notices = [a for a in plan.alerts if a.kind is AlertKind.NO_PROTOCOL]
    assert len(notices) == 1
    assert f"no surveillance protocol for site {site!r}" in notices[0].reason

    first = [o for o in patient.settle(date(2024, 5, 1), catalog) if isinstance(o, CareTeamAlert)]
    assert [a.kind for a in first] == [AlertKind.NO_PROTOCOL]
    again = patient.settle(date(2024, 6, 1), catalog)
    assert not [o for o in again if isinstance(o, CareTeamAlert)]  # one notice, not one a day


def test_a_known_site_no_protocol_applies_to_gets_the_notice_too(catalog) -> None:
    # Metastatic HER2-negative breast cancer under palliative care: no protocol applies.
    patient = Patient().enrol(
        date(2024, 1, 2),
        site="breast",
        stage="IV",
        intent="palliative",
        receptors={"er": "positive", "her2": "negative"},
    )
    notices = [
        a
        for a in patient.forecast(date(2024, 2, 1), catalog).alerts
        if a.kind is AlertKind.NO_PROTOCOL
    ]
    assert len(notices) == 1
    assert "no surveillance protocol applies to this breast profile" in notices[0].reason


def test_a_site_is_still_a_code_not_free_text() -> None:
    with pytest.raises(ValidationError):
        event("patient.enrolled", date(2024, 1, 2), site="Pancreas cancer")


# --- f08: a calendar date is the same date in every zone ---------------------------------------

ALL_ZONES = sorted(zoneinfo.available_timezones())


def _done_elsewhere(zone: str, done_on: date):
    patient = Patient().enrol(date(2026, 6, 1), site="colorectal", stage="II", time_zone=zone)
    patient.treated(date(2026, 6, 10), date(2026, 6, 10))
    patient.add(
        "override.recorded",
        noon(date(2027, 1, 12)),
        item="cea",
        action="done_elsewhere",
        done_on=done_on.isoformat(),
    )
    return patient


def test_done_elsewhere_is_that_date_in_every_iana_zone(catalog) -> None:
    # f08: Pacific/Auckland (UTC+13 in January) read 2027-01-10 as 2027-01-11.
    wrong = {}
    for zone in ALL_ZONES:
        patient = _done_elsewhere(zone, date(2027, 1, 10))
        cea = patient.items(date(2027, 2, 1), catalog)["cea"]
        if cea.last_done != date(2027, 1, 10) or cea.due != date(2027, 4, 10):
            wrong[zone] = (cea.last_done, cea.due)
    assert wrong == {}
    assert len(ALL_ZONES) > 300
    assert {"Pacific/Auckland", "Pacific/Kiritimati", "Etc/GMT+12", "Etc/GMT-14"} <= set(ALL_ZONES)


@settings(max_examples=200, deadline=None)
@given(
    zone=st.sampled_from(ALL_ZONES),
    done_on=st.dates(min_value=date(2026, 6, 11), max_value=date(2031, 1, 1)),
)
def test_any_done_elsewhere_date_is_kept_as_that_date(zone: str, done_on: date) -> None:
    patient = _done_elsewhere(zone, done_on)
    assert patient.state is not None
    plan = forecast(patient.state, noon(done_on), CATALOG)
    cea = {d.item: d for d in plan.items}.get("cea")
    if cea is not None:  # after year 5 the CEA schedule has ended
        assert cea.last_done == done_on


def test_the_later_of_a_done_elsewhere_date_and_a_result_wins(catalog) -> None:
    patient = _done_elsewhere("Pacific/Auckland", date(2027, 1, 10))
    assert patient.state is not None
    # A result is an instant: noon in Auckland (UTC+13 in January) is 2027-01-20 there.
    drawn = datetime(2027, 1, 20, 12, 0, tzinfo=ZoneInfo("Pacific/Auckland"))
    later = event("lab.resulted", drawn, order_id="x", loinc="2039-6", value=1.0)
    patient.state = evolve(patient.state, later)
    assert patient.items(date(2027, 2, 1), catalog)["cea"].last_done == date(2027, 1, 20)
