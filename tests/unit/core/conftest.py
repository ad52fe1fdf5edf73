"""Builders for events in the core's unit tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.events import Event, parse_event

T0 = datetime(2024, 1, 8, 9, 0, tzinfo=UTC)

EventFactory = Callable[..., Event]


def make_event(event_id: str, days: float, kind: str, patient: str = "P1", **fields: Any) -> Event:
    at = T0 + timedelta(days=days)
    return parse_event(
        {
            "event_id": event_id,
            "patient_id": patient,
            "type": kind,
            "occurred_at": at.isoformat(),
            "recorded_at": at.isoformat(),
            "source": "test",
            **fields,
        }
    )


@pytest.fixture
def ev() -> EventFactory:
    return make_event


def recist(diameter: float, baseline: bool = False, new: bool = False) -> dict[str, Any]:
    return {
        "system": "recist",
        "baseline": baseline,
        "new_lesions": new,
        "targets": [
            {"lesion_id": "L1", "organ": "liver", "is_node": False, "diameter_mm": diameter}
        ],
    }
