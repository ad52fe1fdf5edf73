"""Threshold comparisons that hold exactly at a guideline's boundary despite float rounding."""

from __future__ import annotations

import math

# Measurements carry at most a few decimals; 1e-9 absorbs binary rounding (1.6 * 1.25 is not
# exactly 2.0) without moving any clinically meaningful boundary.
_TOLERANCE = 1e-9


def at_least(value: float, threshold: float) -> bool:
    """`value >= threshold`, counting a value within float rounding of the threshold as equal."""
    return value >= threshold or math.isclose(value, threshold, rel_tol=0.0, abs_tol=_TOLERANCE)


def exceeds(value: float, threshold: float) -> bool:
    """`value > threshold`, where a value within float rounding of the threshold does not exceed."""
    return value > threshold and not at_least(threshold, value)


def percent_change(current: float, reference: float) -> float:
    """Signed change from `reference` to `current` in percent of `reference` (+ is growth).

    Both are non-negative. From a zero reference any growth is infinite and no change is 0%,
    so a lesion reappearing after a complete response counts as growth of any size.
    """
    if reference == 0:
        return 0.0 if current == 0 else math.inf
    return (current - reference) / reference * 100.0
