"""Ingest connects to Kafka with the same RW_KAFKA_* TLS and SASL settings as the streams services
(streams.kafka_security): a backfill over SASL_SSL (SCRAM) to the Apache Kafka test broker."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path

import hl7_samples as s
import pytest
from aiokafka import AIOKafkaConsumer
from cryptography.fernet import Fernet

from ingest.settings import IngestSettings
from remission_watch.cli import main
from tests.kafka.broker import PASSWORD, USER, KafkaCluster

pytestmark = pytest.mark.integration
_ids = itertools.count()


def test_a_backfill_over_sasl_ssl_reaches_the_secure_broker(
    apache_kafka: KafkaCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert apache_kafka.tls is not None
    prefix = f"ingsec{next(_ids)}x{id(tmp_path)}."
    secure = {
        "RW_KAFKA_BOOTSTRAP": apache_kafka.sasl_bootstrap,
        "RW_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "RW_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "RW_KAFKA_SASL_USERNAME": USER,
        "RW_KAFKA_SASL_PASSWORD": PASSWORD,
        "RW_KAFKA_SSL_CAFILE": str(apache_kafka.tls.ca),
    }
    for name, value in {
        **secure,
        "RW_TOPIC_PREFIX": prefix,
        "RW_PARTITIONS": "2",
        "RW_TEST_PSEUDONYM_KEY": "k" * 40,
        "RW_TEST_QUARANTINE_KEY": Fernet.generate_key().decode(),
    }.items():
        monkeypatch.setenv(name, value)
    config = tmp_path / "ingest.yaml"
    text = s.CONFIG.replace("@QDIR@", str(tmp_path / "q"))
    config.write_text(text.replace("@LEDGER@", str(tmp_path / "ledger.sqlite3")))
    data = tmp_path / "one.hl7"
    data.write_bytes(s.tumour_markers())
    assert main(["ingest", "file", str(data), "--config", str(config)]) == 0
    assert json.loads(capsys.readouterr().out) == {"AA": 1, "events": 5}
    options = IngestSettings().kafka_client_options()
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"

    async def read() -> list[dict[str, object]]:
        consumer = AIOKafkaConsumer(
            f"{prefix}labs.v1",
            bootstrap_servers=apache_kafka.sasl_bootstrap,
            auto_offset_reset="earliest",
            **options,
        )
        await consumer.start()
        values: list[dict[str, object]] = []
        try:
            async with asyncio.timeout(60):
                while len(values) < 5:
                    for records in (await consumer.getmany(timeout_ms=500)).values():
                        values += [json.loads(r.value or b"{}") for r in records]
        finally:
            await consumer.stop()
        return values

    labs = asyncio.run(read())
    assert {v["type"] for v in labs} == {"lab.resulted"} and len(labs) == 5
