"""ATA 2015 thyroid response: Tg boundaries 0.2/1 (suppressed) and 1/10 (stimulated)."""

from __future__ import annotations

import pytest

from models.criteria import AtaAssessment, Response


def thyroid(tg: float, stimulated: bool = False, **kwargs) -> AtaAssessment:
    fields = {"imaging": "negative", "tg_antibodies": "absent"}
    return AtaAssessment(tg_ng_ml=tg, tg_stimulated=stimulated, **(fields | kwargs))


@pytest.mark.parametrize(
    ("tg", "category"),
    [
        (0.19, "excellent"),
        (0.2, "indeterminate"),
        (0.99, "indeterminate"),
        (1.0, "biochemical_incomplete"),
    ],
)
def test_suppressed_tg_boundaries(series, tg, category):
    [evaluation] = series(thyroid(tg))
    assert evaluation.category == category


@pytest.mark.parametrize(
    ("tg", "category"),
    [
        (0.99, "excellent"),
        (1.0, "indeterminate"),
        (9.9, "indeterminate"),
        (10.0, "biochemical_incomplete"),
    ],
)
def test_stimulated_tg_boundaries(series, tg, category):
    [evaluation] = series(thyroid(tg, stimulated=True))
    assert evaluation.category == category


@pytest.mark.parametrize(
    ("category", "response"),
    [
        ("excellent", Response.COMPLETE),
        ("indeterminate", Response.NOT_EVALUABLE),
        ("biochemical_incomplete", Response.STABLE),
    ],
)
def test_categories_map_onto_the_ladder(series, category, response):
    tg = {"excellent": 0.1, "indeterminate": 0.5, "biochemical_incomplete": 2.0}[category]
    [evaluation] = series(thyroid(tg))
    assert (evaluation.category, evaluation.response) == (category, response)


def test_excellent_needs_confirmation(series):
    [evaluation] = series(thyroid(0.1))
    assert evaluation.needs_confirmation is True


def test_structural_disease_is_progression_whatever_the_tg(series):
    [evaluation] = series(thyroid(0.1, imaging="structural"))
    assert (evaluation.category, evaluation.response) == (
        "structural_incomplete",
        Response.PROGRESSION,
    )


def test_nonspecific_imaging_is_indeterminate_even_with_high_tg(series):
    [evaluation] = series(thyroid(5.0, imaging="nonspecific"))
    assert evaluation.category == "indeterminate"


@pytest.mark.parametrize(
    ("antibodies", "category"),
    [("rising", "biochemical_incomplete"), ("stable_or_declining", "indeterminate")],
)
def test_tg_antibodies_override_a_low_tg(series, antibodies, category):
    [evaluation] = series(thyroid(0.1, tg_antibodies=antibodies))
    assert evaluation.category == category


@pytest.mark.parametrize(
    ("tg", "ends"),
    [
        # Haugen 2016 (ATA 2015), Table 13: biochemical incomplete = negative imaging and
        # suppressed Tg >= 1 ng/mL; after an excellent response it is biochemical disease
        (2.4, True),  # case c16
        (1.0, True),
        (0.99, False),  # indeterminate
        (0.1, False),  # still excellent
    ],
)
def test_biochemical_incomplete_ends_an_excellent_response(series, tg, ends):
    *_, evaluation = series(thyroid(0.1), thyroid(tg))
    assert evaluation.ends_remission is ends
