"""Topic names (versioned, prefixed), their partition counts and their creation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from models.events import TOPIC_STEMS, Event, EventCorrected
from streams.embedded import PartitionMismatch, ensure_topics, partition_counts
from streams.settings import StreamsSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicNames:
    """Every topic the streams service reads or writes, named from one prefix."""

    prefix: str = "rw."

    def _name(self, stem: str) -> str:
        return f"{self.prefix}{stem}.v1"

    @property
    def assessments(self) -> str:
        return self._name("assessments")

    @property
    def scans(self) -> str:
        return self._name("scans")

    @property
    def labs(self) -> str:
        return self._name("labs")

    @property
    def patients(self) -> str:
        return self._name("patients")

    @property
    def checkins(self) -> str:
        return self._name("checkins")

    @property
    def ticks(self) -> str:
        return self._name("ticks")

    @property
    def reminders(self) -> str:
        return self._name("reminders")

    @property
    def alerts(self) -> str:
        return self._name("alerts")

    @property
    def patient_state(self) -> str:
        return self._name("patient-state")

    @property
    def deadletter(self) -> str:
        return self._name("deadletter")

    @property
    def events(self) -> tuple[str, ...]:
        """The source topics of patient facts (everything the agent reads but ticks)."""
        return (self.assessments, self.scans, self.labs, self.patients, self.checkins)

    @property
    def inputs(self) -> tuple[str, ...]:
        """Everything the patient agent reads; all co-partitioned by patient_id."""
        return (*self.events, self.ticks)

    def for_event(self, event: str | Event) -> str:
        """The source topic of an event (docs/wire-format.md): its type's own; a correction
        goes to its replacement's, a retraction (and any unknown type) to `patients`."""
        if isinstance(event, EventCorrected):
            event = event.replacement
        kind = event if isinstance(event, str) else event.type
        return self._name(TOPIC_STEMS.get(kind, "patients"))

    @property
    def outputs(self) -> tuple[str, ...]:
        return (self.reminders, self.alerts, self.patient_state, self.deadletter)


def changelog_topics(app_id: str) -> tuple[str, ...]:
    """Faust's changelog topic names for the agent's tables (see streams.app)."""
    return (f"{app_id}-patients-changelog", f"{app_id}-clock-changelog")


KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1"}  # the log is the truth
COMPACT = {"cleanup.policy": "compact"}  # the latest value per key is all that matters


def topic_plan(settings: StreamsSettings) -> tuple[dict[str, int], dict[str, dict[str, str]]]:
    """Partition counts and configs of every topic the service needs.

    Source topics keep every record for ever: state is a fold of them, and a replay after a
    protocol change needs every enrolment (Kafka's default would delete them after 7 days).
    The table changelogs and the snapshot topic are compacted: only each key's latest value
    is needed to recover, and compaction keeps it however old it is.
    """
    names = TopicNames(settings.topic_prefix)
    every = (*names.inputs, *names.outputs, *changelog_topics(settings.app_id))
    counts = dict.fromkeys(every, settings.partitions)
    configs = {name: dict(KEEP_FOREVER) for name in names.events}
    configs |= {name: dict(COMPACT) for name in changelog_topics(settings.app_id)}
    if settings.compact_state_topic:
        configs[names.patient_state] = dict(COMPACT)
    return counts, configs


async def create_topics(settings: StreamsSettings) -> None:
    """Create every topic explicitly before anything produces (tansu would auto-create
    it with its own partition count, and a mismatched source topic stalls the agent)."""
    counts, configs = topic_plan(settings)
    try:
        await ensure_topics(
            settings.kafka_bootstrap, counts, configs, settings.kafka_client_options()
        )
    except PartitionMismatch as exc:
        listed = ", ".join(f"{name} has {n}" for name, n in sorted(exc.wrong.items()))
        raise TopicsChanged(
            f"partition counts on {settings.kafka_bootstrap} differ: {listed}, but "
            f"RW_PARTITIONS={settings.partitions}. Every topic of the worker needs that count "
            "(co-partitioning); see docs/operations.md, 'Adding partitions'."
        ) from None


class TopicsChanged(RuntimeError):
    """A topic the worker needs vanished or changed its partition count while it ran."""


async def topics_problem(settings: StreamsSettings) -> str | None:
    """What is wrong with the topics the worker reads and writes, in words, or None."""
    counts, _ = topic_plan(settings)
    found = await partition_counts(  # all: never auto-creates
        settings.kafka_bootstrap, client=settings.kafka_client_options()
    )
    gone = sorted(name for name in counts if name not in found)
    if gone:
        return (
            f"topics vanished from {settings.kafka_bootstrap}: {', '.join(gone)}. The broker lost "
            "them (the embedded broker keeps nothing across a restart). Stop every service and "
            "start again: `remission-watch up` recreates them; on Kafka, recreate them with "
            "deploy/create_topics.py and replay the source events (docs/operations.md)."
        )
    wrong = {name: found[name] for name, count in counts.items() if found[name] != count}
    if wrong:
        listed = ", ".join(f"{name} has {n}" for name, n in sorted(wrong.items()))
        return (
            f"partition counts changed on {settings.kafka_bootstrap}: {listed}, the worker "
            f"expects RW_PARTITIONS={settings.partitions}. Patients would be split across "
            "partitions; stop every service and follow docs/operations.md, 'Adding partitions'."
        )
    return None


async def watch_topics(settings: StreamsSettings, stop: asyncio.Event, every: float = 2.0) -> str:
    """Check the topics every few seconds until `stop`; on a problem, log it, set `stop` and
    return it (the worker then stops instead of crashing on Faust's ConsistencyError)."""
    while not stop.is_set():
        try:
            problem = await topics_problem(settings)
        except Exception:  # the broker is briefly unreachable: look again next time
            log.debug("topics not checked this round", exc_info=True)
            problem = None
        if problem:
            log.error("%s", problem)
            stop.set()
            return problem
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
    return ""
