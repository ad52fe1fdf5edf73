"""Topic names (versioned, prefixed), their partition counts and their creation."""

from __future__ import annotations

from dataclasses import dataclass

from models.events import TOPIC_STEMS, Event, EventCorrected
from streams.embedded import ensure_topics
from streams.settings import StreamsSettings


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


def topic_plan(settings: StreamsSettings) -> tuple[dict[str, int], dict[str, dict[str, str]]]:
    """Partition counts and configs of every topic the service needs."""
    names = TopicNames(settings.topic_prefix)
    every = (*names.inputs, *names.outputs, *changelog_topics(settings.app_id))
    counts = dict.fromkeys(every, settings.partitions)
    compact = {"cleanup.policy": "compact"}
    configs = {name: compact for name in changelog_topics(settings.app_id)}
    if settings.compact_state_topic:
        configs[names.patient_state] = compact
    return counts, configs


async def create_topics(settings: StreamsSettings) -> None:
    """Create every topic explicitly before anything produces (tansu would auto-create
    it with its own partition count, and a mismatched source topic stalls the agent)."""
    counts, configs = topic_plan(settings)
    await ensure_topics(settings.kafka_bootstrap, counts, configs, settings.kafka_client_options())
