"""Tumour burden over time: a summed measure, its baseline and its nadir (RECIST, WHO, Lugano CT).

Memory keys: `baseline` and `nadir` (the summed measure, in the system's unit) and `lesions`
(the sorted lesion ids joined by "|", so a follow-up can be checked against the baseline set).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from models.criteria.base import CriteriaMemory, Evaluation, Measurements, Response

# "|" is the separator in memory, so ids may not contain it.
LesionId = Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]

# Non-target disease as RECIST and WHO grade it: gone, still there, or clearly worse.
NonTarget = Literal["absent", "present", "unequivocal_progression"]


class BidimensionalLesion(Measurements):
    """A lesion measured in two perpendicular diameters (mm), as WHO and Lugano CT use."""

    lesion_id: LesionId
    longest_mm: float = Field(ge=0)
    perpendicular_mm: float = Field(ge=0)

    @model_validator(mode="after")
    def _perpendicular_not_longer(self) -> Self:
        if self.perpendicular_mm > self.longest_mm:
            raise ValueError("perpendicular_mm cannot exceed longest_mm")
        return self

    @property
    def product_mm2(self) -> float:
        """Longest diameter times its perpendicular, in mm²."""
        return self.longest_mm * self.perpendicular_mm


@dataclass(frozen=True, slots=True)
class Burden:
    """The reference sums: `baseline` for response, `nadir` (smallest so far) for progression."""

    baseline: float
    nadir: float


def recall(memory: CriteriaMemory) -> Burden | None:
    """The remembered baseline and nadir, or None before the first (baseline) assessment."""
    baseline, nadir = memory.get("baseline"), memory.get("nadir")
    if isinstance(baseline, float) and isinstance(nadir, float):
        return Burden(baseline, nadir)
    return None


def lesion_key(ids: Iterable[str]) -> str:
    """The order-free identity of a set of lesions, as stored under `lesions`."""
    return "|".join(sorted(ids))


def same_lesions(memory: CriteriaMemory, ids: Iterable[str]) -> bool:
    """True when `ids` are exactly the lesions measured at baseline."""
    return memory.get("lesions") == lesion_key(ids)


def start(total: float, ids: Iterable[str]) -> CriteriaMemory:
    """A fresh memory whose baseline and nadir are `total`; earlier state is dropped."""
    return CriteriaMemory().with_values(
        baseline=float(total), nadir=float(total), lesions=lesion_key(ids)
    )


def remember(memory: CriteriaMemory, total: float) -> CriteriaMemory:
    """`memory` with the nadir lowered to `total` when it is the smallest sum so far."""
    # `recall` without building a Burden: this runs for every measured follow-up.
    nadir = memory.get("nadir")
    if isinstance(memory.get("baseline"), float) and isinstance(nadir, float):
        return memory.with_values(nadir=min(nadir, float(total)))
    return memory.with_values(nadir=float(total))


def baseline_evaluation(system: str, total: float, unit: str) -> Evaluation:
    """The evaluation of a baseline assessment: no response yet, `metric` is the sum."""
    return Evaluation(
        system=system,
        category="baseline",
        response=Response.NOT_EVALUABLE,
        needs_confirmation=False,
        detail=f"baseline sum {total:g} {unit}; later assessments are compared with it",
        metric=total,
    )


def with_lesion_nadirs(
    memory: CriteriaMemory,
    lesions: Iterable[BidimensionalLesion],
    previous: CriteriaMemory | None = None,
) -> CriteriaMemory:
    """`memory` with each lesion's smallest product so far under `node:<id>` (mm²) and its two
    diameters at that nadir under `ldi:<id>` and `sdi:<id>` (mm), from `previous` if given."""
    updates: dict[str, float | str | None] = {}
    for lesion in lesions:
        key = lesion.lesion_id
        old = previous.get(f"node:{key}") if previous else None
        if isinstance(old, float) and old <= lesion.product_mm2:
            updates[f"node:{key}"] = old
            continue
        updates[f"node:{key}"] = lesion.product_mm2
        updates[f"ldi:{key}"] = lesion.longest_mm
        updates[f"sdi:{key}"] = lesion.perpendicular_mm
    return memory.with_values(**updates)


def lesion_nadir(memory: CriteriaMemory, lesion_id: str) -> tuple[float, float, float] | None:
    """A lesion's nadir product (mm²) and its longest and perpendicular diameters there (mm)."""
    product = memory.get(f"node:{lesion_id}")
    ldi, sdi = memory.get(f"ldi:{lesion_id}"), memory.get(f"sdi:{lesion_id}")
    if isinstance(product, float) and isinstance(ldi, float) and isinstance(sdi, float):
        return product, ldi, sdi
    return None
