"""Shared fixtures for integration tests: one embedded Kafka-protocol broker per session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from streams.embedded import EmbeddedBroker


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """The bootstrap address of a broker: RW_TEST_KAFKA_BOOTSTRAP if set, else embedded tansu."""
    external = os.environ.get("RW_TEST_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    with EmbeddedBroker() as broker:
        yield broker.bootstrap
