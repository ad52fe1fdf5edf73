"""The ingest service's settings, read from RW_* environment variables at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.kafka_security import KafkaSecurity
from streams.settings import KafkaBootstrap, StreamsSettings


class IngestSettings(BaseSettings, KafkaSecurity):
    """Where events go, where the feed configuration is, and where the listeners listen.
    RW_KAFKA_SECURITY_PROTOCOL, RW_KAFKA_SSL_*, RW_KAFKA_SASL_*: as every service
    (streams.kafka_security), for the topics ingest creates and the producer it sends with."""

    model_config = SettingsConfigDict(env_prefix="RW_", extra="ignore")

    kafka_bootstrap: KafkaBootstrap = "127.0.0.1:9092"  # comma-separated host:port list
    topic_prefix: str = "rw."  # the same prefix as the streams service
    partitions: int = Field(default=8, ge=1, le=1024)  # topics are created with this count
    ingest_config: Path = Path("ingest.yaml")  # the feeds (docs/ingest.md)
    mllp_host: str = "127.0.0.1"  # address the MLLP listener binds (0.0.0.0 in a container)
    mllp_port: int = Field(default=2575, ge=0, le=65535)  # MLLP listen port
    mllp_tls_cert: Path | None = None  # PEM certificate chain; with the key, MLLP over TLS
    mllp_tls_key: Path | None = None  # the PEM private key of RW_MLLP_TLS_CERT
    fhir_host: str = "127.0.0.1"  # address the FHIR endpoint binds (0.0.0.0 in a container)
    fhir_port: int = Field(default=8085, ge=0, le=65535)  # FHIR endpoint port
    fhir_token: SecretStr | None = None  # bearer token FHIR clients must send (16+ characters)
    ingest_pseudonym_key: SecretStr | None = Field(
        default=None,
        description="HMAC key (32+ characters) of the pseudonym of every MRN, read through the "
        "feed file's pseudonym.key_env (default: this name); rotating it changes every "
        "patient_id (docs/ingest.md).",
    )
    ingest_quarantine_key: SecretStr | None = Field(
        default=None,
        description="Fernet key(s) of ingest's quarantine of rejected messages, comma-separated, "
        "the first encrypts (quarantine.key_env).",
    )
    loglevel: str = "info"  # log level of the ingest service

    def streams(self) -> StreamsSettings:
        """The topic plan is the streams service's: same prefix, same partition count."""
        security = {name: getattr(self, name) for name in KafkaSecurity.model_fields}
        return StreamsSettings(
            kafka_bootstrap=self.kafka_bootstrap,
            topic_prefix=self.topic_prefix,
            partitions=self.partitions,
            **security,
        )
