"""Kafka over TLS and SASL, on the Apache Kafka test broker: its SSL listener requires a
client certificate, its SASL_SSL listener takes PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512. The
worker, ticker, rebuild, topics job and notifier connect with the same RW_KAFKA_* settings
(`streams.kafka_security.KafkaSecurity`); a wrong password or a missing certificate gives
one clear line, not a traceback."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from models.protocols import Catalog
from notifier.checkins import FakeCheckinSink
from notifier.clock import FakeClock
from notifier.service import NotifierService
from notifier.sinks import HttpSmsSink, SmtpSink, free_port
from streams.embedded import ensure_topics
from streams.rebuild import rebuild
from streams.settings import StreamsSettings
from streams.ticker import Ticker, TickPublisher
from streams.topics import TopicNames
from tests.integration.notifier.notifier_kit import make_settings
from tests.integration.streams.conftest import running_app
from tests.kafka.broker import PASSWORD, USER, KafkaCluster, TlsFiles
from tests.unit.streams.conftest import PROTOCOL, T0, treated

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
_ids = itertools.count()


def tls(cluster: KafkaCluster, client_cert: bool = True) -> dict[str, Any]:
    assert cluster.tls is not None
    files: dict[str, Any] = {"kafka_ssl_cafile": cluster.tls.ca}
    if client_cert:
        files |= {
            "kafka_ssl_certfile": cluster.tls.client_cert,
            "kafka_ssl_keyfile": cluster.tls.client_key,
        }
    return files


def secure_settings(
    cluster: KafkaCluster, tmp_path: Path, how: str, **extra: Any
) -> StreamsSettings:
    """Streams settings for the SSL listener (`how="SSL"`) or SASL_SSL with a mechanism."""
    if how == "SSL":
        security: dict[str, Any] = {
            "kafka_bootstrap": cluster.ssl_bootstrap,
            "kafka_security_protocol": "SSL",
            **tls(cluster),
        }
    else:
        security = {
            "kafka_bootstrap": cluster.sasl_bootstrap,
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": how,
            "kafka_sasl_username": USER,
            "kafka_sasl_password": PASSWORD,
            **tls(cluster, client_cert=False),
        }
    n = next(_ids)
    return StreamsSettings(
        topic_prefix=f"sec{n}.",
        app_id=f"sec{n}-streams",
        partitions=2,
        data_dir=tmp_path / "streams",
        confirm_changelog_ends=False,
        simulated_time=True,  # ticks of simulated days
        loglevel="warning",
        **security,
        **extra,
    )


@pytest.mark.parametrize("how", ["SSL", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_each_listener_and_mechanism_connects(
    apache_kafka: KafkaCluster, tmp_path: Path, how: str
) -> None:
    settings = secure_settings(apache_kafka, tmp_path, how)
    topic = f"{settings.topic_prefix}probe"
    await ensure_topics(settings.kafka_bootstrap, {topic: 1}, None, settings.kafka_client_options())
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, **settings.kafka_client_options()
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"over TLS")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        **settings.kafka_client_options(),
    )
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert record.value == b"over TLS"


async def test_worker_ticker_rebuild_and_notifier_over_sasl_scram_and_mutual_tls(
    apache_kafka: KafkaCluster, tmp_path: Path
) -> None:
    """The worker (Faust), the ticker and rebuild on SASL_SSL with SCRAM-SHA-512; the
    notifier reads the reminders through the mutual-TLS listener of the same broker."""
    catalog = Catalog.from_texts({"test-breast.yaml": PROTOCOL})
    settings = secure_settings(apache_kafka, tmp_path, "SCRAM-SHA-512")
    names = TopicNames(settings.topic_prefix)
    patients = [f"s{n}" for n in range(4)]
    async with running_app(settings, catalog):
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            acks="all",
            **settings.kafka_client_options(),
        )
        await producer.start()
        try:
            for pid in patients:
                for raw in treated(pid):
                    await producer.send_and_wait(names.patients, raw, key=pid.encode())
        finally:
            await producer.stop()
        async with TickPublisher.from_settings(settings) as publisher:
            await Ticker(T0 + timedelta(days=70), timedelta(days=1)).run(publisher, 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # aiosmtpd start-up on 3.11
            smtp = SmtpSink().__enter__()
        sms = HttpSmsSink().__enter__()
        notifier = NotifierService(
            make_settings(
                f"sqlite:///{tmp_path / 'notifier.db'}",
                smtp,
                sms,
                kafka_bootstrap=apache_kafka.ssl_bootstrap,
                kafka_security_protocol="SSL",
                topic_prefix=settings.topic_prefix,
                consumer_group=f"{settings.topic_prefix}notifier",
                kafka_session_timeout_ms=6000,
                kafka_rebalance_timeout_ms=1000,
                kafka_heartbeat_interval_ms=500,
                http_port=free_port(),
                **tls(apache_kafka),
            ),
            FakeClock(datetime(2027, 3, 10, 15, 0, tzinfo=UTC)),
            checkins=FakeCheckinSink(),
        )
        try:
            notifier.upgrade_schema()
            consumer = notifier.consumer()
            await consumer.consumer.start()
            try:
                for _ in range(300):
                    if consumer.consumed >= len(patients):
                        break
                    await consumer.poll_once(timeout_ms=200)
            finally:
                await consumer.consumer.stop()
            recorded = [d for p in patients for d in notifier.outbox.deliveries_for(p)]
        finally:
            notifier.close()
            smtp.__exit__(None, None, None)
            sms.__exit__(None, None, None)
    assert {d.patient_id for d in recorded} == set(patients)
    assert {d.purpose for d in recorded} == {"reminder"}
    report = await rebuild(settings)
    assert report.ok and report.rebuilt == len(patients), report


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "remission_watch.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=REPO,
    )


def env_of(settings: StreamsSettings, **override: str) -> dict[str, str]:
    env = {
        "RW_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "RW_TOPIC_PREFIX": settings.topic_prefix,
        "RW_APP_ID": settings.app_id,
        "RW_PARTITIONS": str(settings.partitions),
        "RW_KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
        "RW_KAFKA_SSL_CAFILE": str(settings.kafka_ssl_cafile),
    }
    if settings.kafka_sasl_username:
        env |= {
            "RW_KAFKA_SASL_MECHANISM": settings.kafka_sasl_mechanism,
            "RW_KAFKA_SASL_USERNAME": settings.kafka_sasl_username,
        }
    return env | override


def test_a_wrong_password_is_one_clear_line(apache_kafka: KafkaCluster, tmp_path: Path) -> None:
    settings = secure_settings(apache_kafka, tmp_path, "SCRAM-SHA-256")
    done = cli(env_of(settings, RW_KAFKA_SASL_PASSWORD="not-the-password"), "rebuild")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr  # one line, no traceback
    assert "refused the SASL credentials" in done.stderr
    assert "RW_KAFKA_SASL_PASSWORD" in done.stderr
    assert "not-the-password" not in done.stderr


def test_a_missing_client_certificate_is_one_clear_line(
    apache_kafka: KafkaCluster, tmp_path: Path
) -> None:
    settings = secure_settings(apache_kafka, tmp_path, "SSL")
    done = cli(env_of(settings), "rebuild")  # the CA only: no RW_KAFKA_SSL_CERTFILE/KEYFILE
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "RW_KAFKA_SSL_CERTFILE" in done.stderr, done.stderr


def test_an_untrusted_broker_certificate_is_one_clear_line(
    apache_kafka: KafkaCluster, tmp_path: Path
) -> None:
    settings = secure_settings(apache_kafka, tmp_path, "SCRAM-SHA-512")
    other_ca = TlsFiles(tmp_path / "other").ca  # a CA that did not sign the broker's cert
    done = cli(
        env_of(settings, RW_KAFKA_SSL_CAFILE=str(other_ca), RW_KAFKA_SASL_PASSWORD=PASSWORD),
        "rebuild",
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "RW_KAFKA_SSL_CAFILE" in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"RW_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "RW_KAFKA_SASL_USERNAME"),
        ({"RW_KAFKA_SASL_USERNAME": "u", "RW_KAFKA_SASL_PASSWORD": "p"}, "SASL_SSL"),
        (
            {"RW_KAFKA_SECURITY_PROTOCOL": "SSL", "RW_KAFKA_SSL_CAFILE": "/nowhere/ca.pem"},
            "no file at /nowhere/ca.pem",
        ),
        (
            {"RW_KAFKA_SECURITY_PROTOCOL": "SSL", "RW_KAFKA_SSL_CERTFILE": __file__},
            "RW_KAFKA_SSL_KEYFILE go together",
        ),
        ({"RW_KAFKA_SASL_MECHANISM": "GSSAPI"}, "RW_KAFKA_SASL_MECHANISM"),
    ],
)
def test_inconsistent_security_settings_are_refused_before_connecting(
    env: dict[str, str], says: str
) -> None:
    done = cli({"RW_KAFKA_BOOTSTRAP": "127.0.0.1:9", **env}, "rebuild")
    assert done.returncode == 2, done.stdout + done.stderr
    assert says in done.stderr, done.stderr
