"""Recompute every patient's state from the source topics and compare it with the live table."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from models.events import Event
from models.parking import foldable
from models.state import PatientState, evolve, fold_order, load_state, replay
from streams.codecs import BadInput, Stored, decode_event
from streams.differences import Difference, differences
from streams.embedded import confirmed_ends, partition_counts
from streams.settings import StreamsSettings
from streams.topics import TopicNames, changelog_topics


class CannotRebuild(RuntimeError):
    """The rebuild could not run (topics missing): one line says why."""


@dataclass(frozen=True)
class RebuildReport:
    """Patients whose live state differs from the fold of their events, and how."""

    rebuilt: int
    live: int
    missing: list[str] = field(default_factory=list)  # rebuilt, absent from the live table
    extra: list[str] = field(default_factory=list)  # live, with no enrolment in the topics
    different: list[str] = field(default_factory=list)
    skipped_records: int = 0  # undecodable or unknown-patient records (the dead letters)
    differences: dict[str, list[Difference]] = field(default_factory=dict)  # per `different`

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.different)


async def read_all(
    bootstrap: str,
    topics: Collection[str],
    timeout: float = 120.0,
    client: Mapping[str, Any] | None = None,  # TLS/SASL: KafkaSecurity.kafka_client_options
    isolation_level: str = "read_uncommitted",
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of `topics`, from the beginning to the end, without joining a group.
    `read_committed` leaves out the records of aborted transactions (exactly_once workers).

    The end is each partition's high watermark (`confirmed_ends`): some brokers (tansu)
    under-report the latest offset. Raises `CannotRebuild` when a topic does not exist.
    """
    # Asked of the broker: a consumer's metadata cache holds only the topics it already
    # knows (on Apache Kafka a fresh consumer knows none; tansu tells it every topic). All
    # topics are asked for: naming a missing one makes tansu create it.
    # an unreachable broker raises; the CLI says so
    every = await partition_counts(bootstrap, client=client)
    counts = {topic: every[topic] for topic in topics if topic in every}
    absent = sorted(set(topics) - counts.keys())
    if absent:
        raise CannotRebuild(
            f"{', '.join(absent)}: no such topic on {bootstrap} "
            "(check RW_TOPIC_PREFIX and RW_APP_ID; has a worker run there?)"
        )
    parts = [TopicPartition(topic, p) for topic, n in counts.items() for p in range(n)]
    if not parts:
        return []
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
        isolation_level=isolation_level,
        **(client or {}),
    )
    await consumer.start()
    try:
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await confirmed_ends(bootstrap, await consumer.end_offsets(parts), client=client)
        records: list[ConsumerRecord[bytes, bytes]] = []
        async with asyncio.timeout(timeout):
            while not all([await consumer.position(tp) >= ends[tp] for tp in parts]):
                batch = await consumer.getmany(timeout_ms=200)
                for got in batch.values():
                    records.extend(got)
        return records
    finally:
        await consumer.stop()


def fold(events: Iterable[Event]) -> tuple[dict[str, PatientState], int]:
    """One state per patient from their events in any order; patients never enrolled, and
    corrections and retractions whose target never came, are skipped (the live agent keeps
    them parked, then dead-letters them). Returns states and skipped count.

    A patient whose events the core refuses as a whole (one event outside the journal's
    range, say) is folded event by event, leaving out the ones it refuses, as the agent does.
    """
    by_patient: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_patient[event.patient_id].append(event)
    states: dict[str, PatientState] = {}
    skipped = 0
    for patient_id, mine in by_patient.items():
        kept, waiting = foldable(mine)
        skipped += len(waiting)
        if not kept:
            continue
        try:
            states[patient_id] = replay(kept)[patient_id]
        except Exception:  # refused by the core: find which events, below
            state, refused = _one_by_one(kept)
            skipped += refused
            if state is not None:
                states[patient_id] = state
    return states, skipped


def _one_by_one(events: list[Event]) -> tuple[PatientState | None, int]:
    state: PatientState | None = None
    refused = 0
    for event in sorted(events, key=fold_order):
        try:
            state = evolve(state, event)
        except Exception:  # the agent dead-letters such an event
            refused += 1
    return state, refused


def comparable(state: PatientState) -> PatientState:
    """The state without `emitted`: what was sent depends on when ticks came, not on facts."""
    return state._replace(emitted=())


def compare(
    rebuilt: dict[str, PatientState], live: dict[str, PatientState], skipped: int = 0
) -> RebuildReport:
    """Compare as facts: arrival order and internal encodings (journal order, interned
    names) do not count; `PatientState.__eq__` and `differences` resolve them."""
    found = {
        pid: differences(comparable(rebuilt[pid]), comparable(live[pid]))
        for pid in sorted(rebuilt.keys() & live.keys())
        if comparable(rebuilt[pid]) != comparable(live[pid])
    }
    return RebuildReport(
        rebuilt=len(rebuilt),
        live=len(live),
        missing=sorted(rebuilt.keys() - live.keys()),
        extra=sorted(live.keys() - rebuilt.keys()),
        different=list(found),
        skipped_records=skipped,
        differences=found,
    )


async def rebuild(settings: StreamsSettings, live_from: str = "changelog") -> RebuildReport:
    """Fold the source topics and compare with the live table (its changelog) or with the
    latest snapshots on the patient-state topic."""
    names = TopicNames(settings.topic_prefix)
    events: list[Event] = []
    bad = 0
    client = settings.kafka_client_options()
    for record in await read_all(settings.kafka_bootstrap, names.events, client=client):
        try:
            events.append(decode_event(record.value))
        except BadInput:
            bad += 1
    rebuilt, skipped = fold(events)
    live = await read_live(settings, live_from)
    return compare(rebuilt, live, skipped + bad)


async def read_live(settings: StreamsSettings, live_from: str) -> dict[str, PatientState]:
    """The latest state per patient in the changelog (or snapshot) topic."""
    if live_from == "changelog":
        topic, unwrap = changelog_topics(settings.app_id)[0], lambda v: Stored.decode(v).state
        key = changelog_key
    elif live_from == "snapshots":
        topic, unwrap = TopicNames(settings.topic_prefix).patient_state, lambda v: v
        key = bytes.decode
    else:
        raise ValueError(f"live_from must be 'changelog' or 'snapshots', not {live_from!r}")
    latest: dict[str, bytes | None] = {}
    client = settings.kafka_client_options()
    # exactly_once: a crashed worker's aborted writes stay in the log; they never happened
    committed = settings.processing_guarantee == "exactly_once"
    isolation = "read_committed" if committed else "read_uncommitted"
    records = await read_all(
        settings.kafka_bootstrap, [topic], client=client, isolation_level=isolation
    )
    for record in records:
        if record.key is not None:
            latest[key(record.key)] = record.value
    # A patient with parked events only (no enrolment yet) has an empty state: no state.
    states = {pid: unwrap(value) for pid, value in latest.items() if value is not None}
    return {pid: load_state(state) for pid, state in states.items() if state}


def changelog_key(raw: bytes) -> str:
    """A patients-table key as Faust writes it to the changelog (a JSON string)."""
    return str(json.loads(raw))


def render_report(report: RebuildReport, live_from: str = "changelog") -> str:
    """The report for a reader: counts, then per patient what differs (both values)."""
    source = "patients changelog" if live_from == "changelog" else "snapshot topic"
    lines = [
        f"rebuilt {report.rebuilt} patients from the source topics; "
        f"the {source} holds {report.live}"
        + (
            f"; {report.skipped_records} records skipped (dead letters)"
            if report.skipped_records
            else ""
        )
    ]
    if report.ok:
        lines.append("same: every live state equals its rebuild")
        return "\n".join(lines)
    if report.missing:
        lines.append(
            f"missing from the live state ({len(report.missing)}): " + ", ".join(report.missing)
        )
    if report.extra:
        lines.append(
            f"live but never enrolled in the topics ({len(report.extra)}): "
            + ", ".join(report.extra)
        )
    for pid in report.different:
        lines.append(f"{pid} differs:")
        for d in report.differences.get(pid, []):
            lines.append(f"  {d.path}: rebuilt {d.rebuilt}, live {d.live}")
    lines.append(
        f"differences: {len(report.missing)} missing, {len(report.extra)} extra, "
        f"{len(report.different)} different"
    )
    return "\n".join(lines)
