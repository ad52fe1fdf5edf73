"""Censored lab values: "<0.1" is a comparator and a limit, and rules compare it as one.

HL7 v2 SN (`<^0.1`) and FHIR Quantity.comparator carry it; thyroglobulin and PSA feeds send it
routinely below the assay's limit (ATA 2015 excellent response: suppressed Tg < 0.2 ng/mL;
NCCN prostate: biochemical recurrence at PSA >= 0.2 ng/mL).
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from protocol_patients import Patient

from models.labs import COMPARATORS, LabValue, comparator_index, comparator_of, lab_results
from models.state import dump_state, load_state


@pytest.mark.parametrize(
    ("value", "threshold", "at_least"),
    [
        (LabValue(0.1, "<"), 0.2, False),  # PSA "<0.1": not a recurrence (>= 0.2)
        (LabValue(0.2, "<"), 0.2, False),
        (LabValue(0.5, "<"), 0.2, None),  # "<0.5" cannot say whether it is >= 0.2
        (LabValue(0.2, "<="), 0.2, None),
        (LabValue(0.1, "<="), 0.2, False),
        (LabValue(300.0, ">"), 0.2, True),  # above the range: above any lower threshold
        (LabValue(0.1, ">"), 0.2, None),
        (LabValue(0.2, ">="), 0.2, True),
        (LabValue(0.2), 0.2, True),
        (LabValue(0.19), 0.2, False),
    ],
)
def test_a_censored_value_is_compared_as_a_side_of_its_limit(
    value: LabValue, threshold: float, at_least: bool | None
) -> None:
    assert value.at_least(threshold) is at_least
    assert value.below(threshold) is (None if at_least is None else not at_least)


@given(
    limit=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    threshold=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    comparator=st.sampled_from(COMPARATORS),
    offset=st.floats(min_value=0, max_value=1e6, allow_nan=False),
)
def test_an_answer_holds_for_every_true_value_the_report_allows(
    limit: float, threshold: float, comparator: str, offset: float
) -> None:
    # Any true value consistent with the report gives the same answer, or the answer is None.
    true = {
        "<": limit - offset - 1e-9,
        "<=": limit - offset,
        ">": limit + offset + 1e-9,
        ">=": limit + offset,
    }[comparator]
    answer = LabValue(limit, comparator).at_least(threshold)  # type: ignore[arg-type]
    if answer is not None:
        assert answer == (true >= threshold)


def test_the_comparator_survives_the_journal_and_the_snapshot() -> None:
    patient = Patient().enrol(
        date(2024, 1, 2), site="prostate", stage="II", flags=["prostatectomy"]
    )
    patient.treated(date(2024, 1, 15), date(2024, 1, 15))
    patient.add(
        "lab.resulted",
        date(2024, 3, 1),
        order_id="P1",
        loinc="2857-1",
        value=0.1,
        comparator="<",
    )
    patient.add("lab.resulted", date(2024, 9, 1), order_id="P2", loinc="83112-3", value=0.25)
    assert patient.state is not None
    for state in (patient.state, load_state(dump_state(patient.state))):
        values = [v for _, v in lab_results(state, ("2857-1", "83112-3"))]
        assert values == [LabValue(0.1, "<"), LabValue(0.25)]
        assert [v.at_least(0.2) for v in values] == [False, True]
        assert str(values[0]) == "<0.1"


def test_a_censored_result_still_marks_the_draw_done(catalog) -> None:
    patient = Patient().enrol(
        date(2024, 1, 2), site="prostate", stage="II", flags=["prostatectomy"]
    )
    patient.treated(date(2024, 1, 15), date(2024, 1, 15))
    patient.add(
        "lab.resulted",
        date(2024, 3, 1),
        order_id="P1",
        loinc="2857-1",
        value=0.1,
        comparator="<",
    )
    psa = patient.items(date(2024, 3, 2), catalog)["psa_after_prostatectomy"]
    assert psa.last_done == date(2024, 3, 1)


def test_comparator_indexes_round_trip() -> None:
    for comparator in (None, *COMPARATORS):
        assert comparator_of(comparator_index(comparator)) == comparator
