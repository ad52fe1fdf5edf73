"""Shared fixtures for integration tests: the brokers, each started once per session.

`kafka_bootstrap` is the embedded tansu broker unless a test is parametrised over `broker`
(`tests.integration.brokers.on_both_brokers`): then it runs once on tansu and once on a real
Apache Kafka 4.x node started from the jars that `tests/kafka/pom.xml` resolves.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.embedded import EmbeddedBroker
from tests.integration.brokers import Broker, require_apache_kafka
from tests.kafka.broker import KafkaCluster


@pytest.fixture(scope="session")
def tansu_bootstrap() -> Iterator[str]:
    """The embedded broker's address, or RW_TEST_KAFKA_BOOTSTRAP when that is set."""
    external = os.environ.get("RW_TEST_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    with EmbeddedBroker() as broker:
        yield broker.bootstrap


@pytest.fixture(scope="session")
def apache_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """One combined KRaft node (broker and controller) for the whole session, with a PLAINTEXT
    listener, an SSL listener requiring a client certificate and a SASL_SSL listener."""
    require_apache_kafka()
    folder = Path(tmp_path_factory.mktemp("apache-kafka"))
    with KafkaCluster(folder, size=1, secure=True) as cluster:
        yield cluster


@pytest.fixture
def broker(request: pytest.FixtureRequest) -> Broker:
    kind = getattr(request, "param", "tansu")
    if kind == "kafka":
        cluster: KafkaCluster = request.getfixturevalue("apache_kafka")
        return Broker("kafka", cluster.bootstrap)
    bootstrap: str = request.getfixturevalue("tansu_bootstrap")
    return Broker("external" if os.environ.get("RW_TEST_KAFKA_BOOTSTRAP") else "tansu", bootstrap)


@pytest.fixture
def kafka_bootstrap(broker: Broker) -> str:
    return broker.bootstrap
