"""Ingest against the embedded broker: a unique topic prefix per test, the shared HL7 fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "adapters" / "ingest"))
