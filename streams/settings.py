"""The streams service's settings, read from RW_* environment variables at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.kafka_security import KafkaSecurity


def check_bootstrap(value: str) -> str:
    """A Kafka bootstrap list, `host:port[,host:port]`, each port 1-65535; else a ValueError
    naming the first bad server (addresses hold no secret)."""
    servers = [server.strip() for server in value.split(",") if server.strip()]
    if not servers:
        raise ValueError("is empty: write host:port[,host:port] (RW_KAFKA_BOOTSTRAP, --bootstrap)")
    for server in servers:
        if "://" in server:
            raise ValueError(f"{server!r}: write host:port[,host:port], without a scheme")
        host, colon, port = server.rpartition(":")
        if not (colon and host and port.isdigit() and 1 <= int(port) <= 65535):
            raise ValueError(
                f"{server!r} is not host:port with a port from 1 to 65535 "
                "(RW_KAFKA_BOOTSTRAP, --bootstrap)"
            )
    return value


# Every service's RW_KAFKA_BOOTSTRAP (and --bootstrap): checked once, when settings are built.
KafkaBootstrap = Annotated[str, AfterValidator(check_bootstrap)]


class StreamsSettings(BaseSettings, KafkaSecurity):
    """Everything the patient agent, ticker and rebuild need; built once and passed down.
    The RW_KAFKA_SECURITY_PROTOCOL, RW_KAFKA_SSL_* and RW_KAFKA_SASL_* settings come from
    `KafkaSecurity`, shared with the notifier."""

    model_config = SettingsConfigDict(env_prefix="RW_", extra="ignore")

    kafka_bootstrap: KafkaBootstrap = "127.0.0.1:9092"  # comma-separated host:port list
    topic_prefix: str = "rw."
    partitions: int = Field(default=8, ge=1, le=1024)
    app_id: str = "remission-watch-streams"
    data_dir: Path = Path("var/streams")
    store: str = "memory://"  # memory:// recovers from the changelog on start
    tick_interval: float = Field(default=60.0, gt=0)  # seconds between wall-clock ticks
    due_bucket_seconds: int = Field(default=3600, ge=1)  # width of a due-index bucket
    batch_records: int = Field(
        default=2000,
        ge=1,
        description="Most records the patient agent works as one batch. Larger batches fold "
        "more of a patient's events together (one settle, one write); 2000 takes about 0.2 s.",
    )
    batch_seconds: float = Field(
        default=0.05,
        gt=0,
        description="Longest wait (s) for a batch to fill; bounds the latency a batch adds.",
    )
    local_timeouts: bool = True  # short group-join timeouts for the embedded broker and tests
    fetch_max_wait_ms: int = Field(
        default=100,
        ge=1,
        description="Consumer fetch wait (ms). Kafka holds a fetch until one of the partitions "
        "it names has data, and partitions with records still buffered are left out of it, so "
        "their next records wait for the fetch in flight (Faust's 1500 gave 1.5 s stalls); the "
        "embedded tansu broker holds every fetch for the whole wait: embedded runs use about 20.",
    )
    confirm_changelog_ends: bool = Field(
        default=False,
        description="Table recovery takes each changelog's end from a fetch answer's high "
        "watermark instead of ListOffsets(latest). Needed on the embedded tansu broker, whose "
        "ListOffsets under-reports; harmless but unneeded on Kafka.",
    )
    simulated_time: bool = Field(
        default=False,
        description="Believe the instant a tick carries (demos, replays, tests). Off (production), "
        "a tick must lie within tick_skew_seconds of its record's broker timestamp, or it is "
        "dead-lettered and leaves the partition's clock alone.",
    )
    tick_skew_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Wall-clock mode: how far (s) a tick's instant may lie from its record's "
        "broker timestamp.",
    )
    park_days: int = Field(
        default=90,
        ge=1,
        description="How long (stream time) an event waits for its enrolment or target before "
        "it is dead-lettered and the care team is told.",
    )
    park_limit: int = Field(default=500, ge=1, description="Most events parked per patient.")
    state_cache: int = Field(
        default=20_000,
        ge=0,
        description="Decoded patient states kept in memory (a few KiB each): a patient woken "
        "by a tick or an event is then not parsed again. As many as the worker's patients "
        "makes a tick cost what settling costs.",
    )
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        default="at_least_once",
        description="at_least_once: a crash can publish a reminder again under the same id (the "
        "notifier's unique constraint absorbs it). exactly_once: outputs, table writes and "
        "offsets of a source partition commit in one Kafka transaction (read_committed "
        "consumers see each once); needs a broker with transactions (not the embedded tansu) "
        "and costs throughput (docs/streams.md).",
    )
    compact_state_topic: bool = True  # production: rw.patient-state.v1 is cleanup.policy=compact
    metrics_port: int | None = None  # prometheus /metrics on this port when set
    metrics_host: str = "127.0.0.1"
    loglevel: str = "info"

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_is_a_topic_name_part(cls, value: str) -> str:
        allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        if not set(value) <= allowed:
            raise ValueError("topic_prefix may only hold letters, digits, '.', '_' and '-'")
        return value

    @property
    def broker_urls(self) -> list[str]:
        """The bootstrap list as Faust wants it: one kafka:// URL per server."""
        servers = [s.strip() for s in self.kafka_bootstrap.split(",") if s.strip()]
        if not servers:
            raise ValueError("RW_KAFKA_BOOTSTRAP is empty")
        return [f"kafka://{server}" for server in servers]
