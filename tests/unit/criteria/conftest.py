"""Shared helpers for the criteria tests: fold a series of assessments through `evaluate`."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from models.criteria import Assessment, CriteriaMemory, Evaluation, evaluate

Series = Callable[..., list[Evaluation]]


def fold(*assessments: Assessment) -> list[Evaluation]:
    """Evaluate `assessments` in order with one memory, as a caller keeps per system."""
    memory = CriteriaMemory()
    evaluations = []
    for assessment in assessments:
        evaluation, memory = evaluate(memory, assessment)
        evaluations.append(evaluation)
    return evaluations


@pytest.fixture
def series() -> Series:
    return fold
