"""WHO: bidimensional products; PR at 50% below baseline, PD at 25% above nadir."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from models.criteria import BidimensionalLesion, Response, WhoAssessment


def who(longest: float, perpendicular: float, **kwargs) -> WhoAssessment:
    lesion = BidimensionalLesion(lesion_id="a", longest_mm=longest, perpendicular_mm=perpendicular)
    return WhoAssessment(lesions=(lesion,), **kwargs)


def test_baseline_metric_is_the_sum_of_products(series):
    [first] = series(who(20, 10))
    assert (first.category, first.metric) == ("baseline", 200)


@pytest.mark.parametrize(("perpendicular", "category"), [(5.01, "SD"), (5.0, "PR")])
def test_partial_response_at_50_percent(series, perpendicular, category):
    # 100 mm² at baseline; 50.1 mm² is 49.9% down, 50 mm² exactly 50%
    _, evaluation = series(who(10, 10), who(10, perpendicular))
    assert evaluation.category == category


@pytest.mark.parametrize(("longest", "category"), [(12.49, "SD"), (12.5, "PD")])
def test_progression_at_25_percent_above_nadir(series, longest, category):
    # nadir 100 mm²; 124.9 mm² is +24.9%, 125 mm² +25%
    _, evaluation = series(who(10, 10), who(longest, 10))
    assert evaluation.category == category


def test_progression_is_measured_from_the_nadir(series):
    # 50 -> 62.5 mm² is +25% from the nadir although 37.5% below baseline
    evaluations = series(who(10, 10), who(10, 5), who(12.5, 5))
    assert [e.category for e in evaluations] == ["baseline", "PR", "PD"]


def test_new_lesions_are_progression(series):
    _, evaluation = series(who(10, 10), who(5, 5, new_lesions=True))
    assert evaluation.response is Response.PROGRESSION


def test_all_disease_gone_is_complete(series):
    _, evaluation = series(who(10, 10), who(0, 0))
    assert (evaluation.category, evaluation.needs_confirmation) == ("CR", True)


def test_perpendicular_longer_than_longest_is_rejected():
    with pytest.raises(ValidationError, match="perpendicular"):
        BidimensionalLesion(lesion_id="a", longest_mm=10, perpendicular_mm=11)


def test_declared_baseline_needs_a_measurable_lesion():
    with pytest.raises(ValidationError, match="measurable"):
        who(0, 0, baseline=True)


def lesions(*sizes: tuple[str, float, float], **kwargs) -> WhoAssessment:
    return WhoAssessment(
        lesions=tuple(
            BidimensionalLesion(lesion_id=i, longest_mm=a, perpendicular_mm=b) for i, a, b in sizes
        ),
        **kwargs,
    )


@pytest.mark.parametrize(
    ("b_now", "category"),
    [
        # Miller 1981 (WHO), as tabulated in Wahl 2009 Table 3: PD is a >= 25% increase in the
        # size of one or more lesions. B: 10x10 = 100 mm² at nadir.
        ((15, 12), "PD"),  # case c06: +80% on B while the sum of products falls 53%
        ((12.5, 10), "PD"),  # exactly +25%
        ((12.4, 10), "PR"),  # +24%
    ],
)
def test_any_one_lesion_growing_25_percent_is_progression(series, b_now, category):
    evaluations = series(
        lesions(("A", 40, 40), ("B", 10, 10)),
        lesions(("A", 25, 25), ("B", *b_now)),
    )
    assert evaluations[-1].category == category


def test_a_lesion_is_compared_with_its_own_nadir(series):
    # B: 100 -> 50 (nadir) -> 64 mm² (+28% from its nadir, below baseline)
    evaluations = series(
        lesions(("A", 40, 40), ("B", 10, 10)),
        lesions(("A", 20, 20), ("B", 10, 5)),
        lesions(("A", 20, 20), ("B", 8, 8)),
    )
    assert [e.category for e in evaluations[1:]] == ["PR", "PD"]
