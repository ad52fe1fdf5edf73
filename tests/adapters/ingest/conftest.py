"""Fixtures for the ingest adapter tests: a feed configuration, keys, an intake on fakes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from fhir_samples import CONFIG_FEED
from hl7_samples import CONFIG

from ingest.config import IngestConfig, load_config
from ingest.fhir_intake import FhirIntake
from ingest.hl7_intake import Hl7Intake
from ingest.ledger import MemoryLedger
from ingest.quarantine import QuarantineStore
from ingest.sink import MemoryEventSink

NOW = datetime(2027, 2, 6, 16, 0, tzinfo=UTC)


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("RW_TEST_PSEUDONYM_KEY", "k" * 40)
    monkeypatch.setenv("RW_TEST_QUARANTINE_KEY", Fernet.generate_key().decode())
    yield


@pytest.fixture
def config(tmp_path: Path, keys: None) -> IngestConfig:
    path = tmp_path / "ingest.yaml"
    text = (
        (CONFIG + CONFIG_FEED)
        .replace("@QDIR@", str(tmp_path / "q"))
        .replace("@LEDGER@", str(tmp_path / "ledger.sqlite3"))
    )
    path.write_text(text)
    return load_config(path)


@pytest.fixture
def sink() -> MemoryEventSink:
    return MemoryEventSink()


@pytest.fixture
def quarantine(config: IngestConfig) -> QuarantineStore:
    return QuarantineStore.from_settings(config.quarantine)


@pytest.fixture
def ledger() -> MemoryLedger:
    return MemoryLedger()


@pytest.fixture
def fhir(
    config: IngestConfig, sink: MemoryEventSink, quarantine: QuarantineStore, ledger: MemoryLedger
) -> FhirIntake:
    return FhirIntake(config, sink, ledger, quarantine, clock=lambda: NOW)


@pytest.fixture
def intake(config: IngestConfig, sink: MemoryEventSink, quarantine: QuarantineStore) -> Hl7Intake:
    return Hl7Intake(config, sink, MemoryLedger(), quarantine, clock=lambda: NOW)
