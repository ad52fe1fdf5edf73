"""Which broker an integration test runs on: tansu (embedded), Apache Kafka, or both."""

from __future__ import annotations

import os
from typing import NamedTuple

import pytest

from tests.kafka.broker import unavailable


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


def require_apache_kafka() -> None:
    """Skip when no Apache Kafka can be started here, saying how to enable it; in CI, fail.

    CI (CI=true) runs these tests: a missing Java or missing jars there is an error, unless
    `.ci/run` said out loud that this machine cannot have them (RW_APACHE_KAFKA=skip).
    """
    reason = unavailable()
    if os.environ.get("RW_APACHE_KAFKA") == "skip":
        pytest.skip(f"RW_APACHE_KAFKA=skip; {reason or 'unset it to run them'}")
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI runs the Apache Kafka tests, but {reason}", pytrace=False)
    pytest.skip(reason)
