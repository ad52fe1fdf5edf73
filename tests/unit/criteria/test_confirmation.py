"""What confirms what, per system (`models.criteria.confirmation.RULES`), at the boundaries, and
the property: nobody is shown in complete or partial remission without the confirming
assessment that their criteria system requires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.clocks import standing
from models.criteria import CriteriaMemory, Response, evaluate
from models.criteria.base import Evaluation
from models.criteria.confirmation import DAY, RULES, Pending, confirm
from models.events import parse_event
from models.state import evolve
from models.view import as_assessment

T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)
START = int(T0.timestamp())


def judged(system: str, category: str, response: Response, depth: str | None = None):
    return Evaluation(system, category, response, True, "", None, depth)


CR = {s: judged(s, "CR", Response.COMPLETE, "CR") for s in RULES}
PR = {s: judged(s, "PR", Response.PARTIAL, "PR") for s in RULES}
PD = {s: judged(s, "PD", Response.PROGRESSION) for s in RULES}
SD = {s: judged(s, "SD", Response.STABLE) for s in RULES}


@pytest.mark.parametrize(
    ("system", "days", "counts"),
    [
        # RECIST 1.1 §4.6 / Table 3 and WHO (Miller 1981): a repeat no less than 4 weeks later
        ("recist", 27, None),
        ("recist", 28, Response.COMPLETE),
        ("who", 27, None),
        ("who", 28, Response.COMPLETE),
        # IMWG 2016 (Kumar): two consecutive assessments, at any interval
        ("imwg", 0, Response.COMPLETE),
        ("imwg", 1, Response.COMPLETE),
    ],
)
def test_a_response_is_confirmed_by_a_repeat_at_the_systems_interval(system, days, counts):
    first = confirm(None, CR[system], START)
    assert first.counts is None and first.pending is not None
    second = confirm(first.pending, CR[system], START + days * DAY)
    assert second.counts is counts
    if counts is not None:
        assert second.since == START


@pytest.mark.parametrize("system", ["lugano", "eln", "ata", "ctc", "psa", "pathologic"])
def test_systems_without_a_repeat_rule_count_one_assessment(system):
    # Cheson 2014; Döhner 2022; Haugen 2016; seed 001; Cookson 2007; FDA 2020
    outcome = confirm(None, CR[system], START)
    assert (outcome.counts, outcome.pending) == (Response.COMPLETE, None)


@pytest.mark.parametrize("system", ["recist", "who", "imwg"])
def test_pr_then_cr_confirms_the_pr_and_the_cr_waits(system):
    # RECIST 1.1 Table 3: PR then CR = PR
    first = confirm(None, PR[system], START)
    second = confirm(first.pending, CR[system], START + 35 * DAY)
    assert (second.counts, second.category, second.since) == (Response.PARTIAL, "PR", START)
    assert second.pending == Pending(system, Response.COMPLETE, "CR", "CR", START + 35 * DAY)


@pytest.mark.parametrize("system", ["recist", "who", "imwg"])
@pytest.mark.parametrize("between", ["SD", "PD"])
def test_a_response_followed_by_sd_or_pd_is_not_confirmed(system, between):
    first = confirm(None, CR[system], START)
    middle = confirm(first.pending, (SD if between == "SD" else PD)[system], START + 30 * DAY)
    assert middle.pending is None or middle.pending.response is Response.PROGRESSION
    later = confirm(middle.pending, CR[system], START + 60 * DAY)
    assert later.counts is None


def test_imwg_progression_needs_a_second_consecutive_assessment():
    # Kumar 2016 (IMWG): PD too needs two consecutive assessments; the date is the first
    first = confirm(None, PD["imwg"], START)
    assert first.counts is None and first.pending is not None
    assert confirm(first.pending, SD["imwg"], START + DAY).counts is None
    second = confirm(first.pending, PD["imwg"], START + DAY)
    assert (second.counts, second.since) == (Response.PROGRESSION, START)


@pytest.mark.parametrize("system", ["recist", "who", "lugano", "eln", "ata", "ctc"])
def test_progression_needs_no_confirmation_elsewhere(system):
    assert confirm(None, PD[system], START).counts is Response.PROGRESSION


def test_the_imwg_confirmed_category_is_the_lower_of_the_two():
    vgpr = judged("imwg", "VGPR", Response.PARTIAL, "PR")
    pr = judged("imwg", "PR", Response.PARTIAL, "PR")
    first = confirm(None, vgpr, START)
    assert confirm(first.pending, pr, START + DAY).category == "PR"


def test_every_rule_names_its_source():
    for system, rule in RULES.items():
        assert rule.source and rule.rule, system


# --- the property --------------------------------------------------------------------------


def _event(n: int, day: int, kind: str, **fields: Any) -> dict[str, Any]:
    moment = (T0 + timedelta(days=day)).isoformat()
    return {
        "event_id": f"P-{n}",
        "patient_id": "P",
        "type": kind,
        "occurred_at": moment,
        "recorded_at": moment,
        "source": "test",
        **fields,
    }


def _recist(mm: float, new: bool) -> dict[str, Any]:
    target = {"lesion_id": "L1", "organ": "liver", "is_node": False, "diameter_mm": mm}
    return {"system": "recist", "targets": [target], "new_lesions": new}


def _imwg(m_protein: float, negative: bool) -> dict[str, Any]:
    ife = "negative" if negative else "positive"
    return {
        "system": "imwg",
        "serum_immunofixation": ife,
        "urine_immunofixation": ife,
        "serum_m_protein_g_dl": 0.0 if negative else m_protein,
        "marrow_plasma_cells_pct": 2,
    }


def _who(mm: float, new: bool) -> dict[str, Any]:
    lesion = {"lesion_id": "A", "longest_mm": mm, "perpendicular_mm": mm}
    return {"system": "who", "lesions": [lesion], "new_lesions": new}


_BASELINES = {
    "recist": _recist(40, False) | {"baseline": True},
    "imwg": _imwg(4.0, False) | {"baseline": True},
    "who": _who(40, False) | {"baseline": True},
}
_VALUES = {
    "recist": [0, 0, 0, 5, 20, 28, 40, 60],
    "imwg": [0.0, 0.0, 0.2, 1.0, 2.0, 4.0, 6.0],
    "who": [0, 0, 0, 10, 25, 35, 45],
}
_NEW = st.sampled_from([False, False, False, True])


@settings(max_examples=200, deadline=None)
@given(system=st.sampled_from(["recist", "imwg", "who"]), data=st.data())
def test_never_in_remission_without_the_confirming_assessment(system, data):
    step = st.tuples(st.integers(1, 60), st.sampled_from(_VALUES[system]), _NEW)
    steps = data.draw(st.lists(step, min_size=1, max_size=10))
    raws = [
        _event(0, 0, "patient.enrolled", site="colorectal", stage="IV", intent="palliative"),
        _event(1, 1, "response.assessed", assessment=_BASELINES[system]),
    ]
    day = 1
    builder = {"recist": _recist, "imwg": _imwg, "who": _who}[system]
    for n, (gap, value, flag) in enumerate(steps, start=2):
        day += gap
        # the flag is a new lesion (RECIST, WHO) or negative immunofixation (IMWG)
        raws.append(_event(n, day, "response.assessed", assessment=builder(value, flag)))
    state = None
    for raw in raws:
        state = evolve(state, parse_event(raw))
    assert state is not None
    # every evaluation of the system, in order, judged again from the journal
    memory, judged_at = CriteriaMemory(), []
    for raw in raws[1:]:
        evaluation, memory = evaluate(memory, as_assessment(parse_event(raw).assessment))
        judged_at.append((int(datetime.fromisoformat(raw["occurred_at"]).timestamp()), evaluation))
    # RECIST 1.1 §4.6 and WHO (Miller 1981): >= 4 weeks apart; IMWG 2016: consecutive
    min_days = {"recist": 28, "who": 28, "imwg": 0}[system]
    for episode in state.view.episodes:
        run = [
            (at, e)
            for at, e in judged_at
            if episode.started <= at <= episode.confirmed and e.category != "baseline"
        ]
        # the response was met when the episode started, and again at its confirmation ...
        assert run[0][0] == episode.started and run[-1][0] == episode.confirmed
        # ... with nothing but responses between, and the repeat far enough apart
        assert all(e.response in (Response.COMPLETE, Response.PARTIAL) for _, e in run)
        assert len(run) >= 2
        assert episode.confirmed - episode.started >= min_days * DAY
    # and the standing never says remission without a confirmed episode
    for moment in (T0 + timedelta(days=d) for d in (0, 100, 400, 1000)):
        status = standing(state.view, moment).status
        if status in ("complete_remission", "partial_remission"):
            assert state.view.current_episode() is not None
