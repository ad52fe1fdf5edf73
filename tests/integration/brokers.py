"""Which broker an integration test runs on: tansu (embedded), Apache Kafka, or both."""

from __future__ import annotations

from typing import NamedTuple

import pytest


class Broker(NamedTuple):
    kind: str  # "tansu", "kafka" (Apache Kafka started by the tests) or "external"
    bootstrap: str

    @property
    def tansu_quirks(self) -> bool:
        """True unless this is known to be Apache Kafka: the tansu workarounds stay on."""
        return self.kind != "kafka"


# Runs the test once on the embedded tansu broker and once on Apache Kafka (skipped, with the
# way to enable it, where Java or the jars are missing; an error in CI).
on_both_brokers = pytest.mark.parametrize("broker", ["tansu", "kafka"], indirect=True)
