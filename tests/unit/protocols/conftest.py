"""Fixtures of the protocol tests (helpers live in protocol_patients.py)."""

from __future__ import annotations

import pytest
from protocol_patients import CATALOG

from models.protocols import Catalog


@pytest.fixture
def catalog() -> Catalog:
    return CATALOG
