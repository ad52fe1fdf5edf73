"""The ingest service's settings, read from RW_* environment variables at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.settings import StreamsSettings


class IngestSettings(BaseSettings):
    """Where events go, where the feed configuration is, and where the listeners listen."""

    model_config = SettingsConfigDict(env_prefix="RW_", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = "rw."
    partitions: int = Field(default=8, ge=1, le=1024)
    ingest_config: Path = Path("ingest.yaml")  # the feeds (docs/ingest.md)
    mllp_host: str = "127.0.0.1"
    mllp_port: int = Field(default=2575, ge=0, le=65535)
    mllp_tls_cert: Path | None = None  # PEM certificate chain; with the key, MLLP over TLS
    mllp_tls_key: Path | None = None
    fhir_host: str = "127.0.0.1"
    fhir_port: int = Field(default=8085, ge=0, le=65535)
    fhir_token: SecretStr | None = None  # bearer token FHIR clients must send
    loglevel: str = "info"

    def streams(self) -> StreamsSettings:
        """The topic plan is the streams service's: same prefix, same partition count."""
        return StreamsSettings(
            kafka_bootstrap=self.kafka_bootstrap,
            topic_prefix=self.topic_prefix,
            partitions=self.partitions,
        )
