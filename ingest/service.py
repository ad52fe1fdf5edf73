"""Wiring for the ingest commands: configuration, ledger, quarantine, Kafka sink, intake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

from ingest.config import IngestConfig, load_config
from ingest.fhir_intake import FhirIntake
from ingest.hl7_intake import Hl7Intake
from ingest.ledger import SqliteLedger
from ingest.quarantine import QuarantineStore
from ingest.settings import IngestSettings
from ingest.sink import KafkaEventSink
from models.clocks import lab_code_mapped
from remission_watch.protocol_files import load_builtin_catalog
from streams.topics import TopicNames, create_topics


@dataclass
class Parts:
    config: IngestConfig
    intake: Hl7Intake
    fhir: FhirIntake
    sink: KafkaEventSink
    ledger: SqliteLedger
    quarantine: QuarantineStore


@asynccontextmanager
async def running(settings: IngestSettings, defer: bool = False) -> AsyncIterator[Parts]:
    """Everything an ingest command needs, started; stopped on the way out."""
    config = load_config(settings.ingest_config)
    quarantine = QuarantineStore.from_settings(config.quarantine)
    config.pseudonym.key()  # fail before connecting when the key is missing
    await create_topics(settings.streams())
    names = TopicNames(settings.topic_prefix)
    sink = KafkaEventSink(
        settings.kafka_bootstrap,
        names,
        linger_ms=5 if defer else 0,
        client_options=settings.kafka_client_options(),  # TLS/SASL, as the streams connect
    )
    ledger = SqliteLedger(config.ledger)
    known_lab = partial(lab_code_mapped, catalog=load_builtin_catalog())
    await sink.start()
    try:
        intake = Hl7Intake(config, sink, ledger, quarantine, defer=defer, known_lab=known_lab)
        fhir = FhirIntake(config, sink, ledger, quarantine, known_lab=known_lab)
        yield Parts(config, intake, fhir, sink, ledger, quarantine)
    finally:
        await sink.stop()
        ledger.close()
