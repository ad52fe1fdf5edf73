"""FHIR R4 resources and Bundles in, events acknowledged by Kafka, an outcome per resource out.

A Bundle's Patients are read first (they carry the MRN the other resources' subjects need). A
version already taken (same resource, same meta.versionId, or lastUpdated without one) adds
nothing: the poller's overlap window and a re-sent notification are harmless. A `transaction`
Bundle is all or nothing; a `batch` takes what it can and says which entries failed. What the
ledger keeps of a request (correction links, "sent" marks, versions taken, patients' pseudonyms)
is kept once Kafka has acknowledged its events, in one transaction; a refused transaction or a
broker that does not acknowledge leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ingest.config import Feed, IngestConfig
from ingest.fhir_map import FhirContext, ResourceError, map_resource
from ingest.fhir_models import MODELS, Bundle, Resource
from ingest.hl7_intake import wall_clock
from ingest.ledger import Ledger, Staged
from ingest.quarantine import QuarantineStore
from ingest.sink import EventSink, Routed

log = logging.getLogger("ingest.fhir")
_BUNDLES = {
    "batch",
    "transaction",
    "history",
    "searchset",
    "collection",
    "subscription-notification",
}


class FeedUnknown(LookupError):
    pass


class BrokerUnavailable(RuntimeError):
    pass


@dataclass
class EntryOutcome:
    status: str  # "200 OK", "400 Bad Request" (the FHIR batch-response convention)
    reference: str = ""
    events: int = 0
    reason: str = ""
    unread: bool = False  # a resource type this endpoint does not read: ignored, and said so


@dataclass
class FhirOutcome:
    entries: list[EntryOutcome] = field(default_factory=list)
    bundle_type: str | None = None

    @property
    def events(self) -> int:
        return sum(e.events for e in self.entries)

    @property
    def failed(self) -> list[EntryOutcome]:
        return [e for e in self.entries if not e.status.startswith("200")]


class FhirIntake:
    def __init__(
        self,
        config: IngestConfig,
        sink: EventSink,
        ledger: Ledger,
        quarantine: QuarantineStore | None,
        clock: Callable[[], datetime] = wall_clock,
        known_lab: Callable[[str], bool] | None = None,
    ) -> None:
        self.config, self.sink, self.ledger, self.quarantine = config, sink, ledger, quarantine
        self.clock, self.known_lab = clock, known_lab
        self._key, self._prefix = config.pseudonym.key(), config.pseudonym.prefix
        # From mapping to commit one request at a time: one mapped while another waits for
        # Kafka would not see that one's links (a notification and a poll, two POSTs at once).
        self._one_at_a_time = asyncio.Lock()

    async def accept(self, feed_name: str, body: dict[str, Any]) -> FhirOutcome:
        feed = self.config.fhir_feed(feed_name)
        if feed is None:
            raise FeedUnknown(feed_name)
        async with self._one_at_a_time:
            return await self._accept(feed, body)

    async def _accept(self, feed: Feed, body: dict[str, Any]) -> FhirOutcome:
        held = Staged(self.ledger)  # the request's ledger writes, kept once Kafka has the events
        ctx = FhirContext(feed, self._key, self._prefix, held, self.known_lab)
        if body.get("resourceType") == "Bundle":
            try:
                bundle = Bundle.model_validate(body)
            except ValidationError:
                return self._refused(feed.name, body, "not a valid Bundle")
            if bundle.type not in _BUNDLES:
                return self._refused(feed.name, body, f"Bundle type {bundle.type!r} is not taken")
            raws = [_resource(entry) for entry in bundle.entry]
            outcome = FhirOutcome(bundle_type=bundle.type)
        else:
            raws, outcome = [body], FhirOutcome()
        # Patients first (they carry the MRN the others' subjects need); answers in entry order.
        order = sorted(range(len(raws)), key=lambda i: _kind(raws[i]) != "Patient")
        results: dict[int, tuple[EntryOutcome, str, str, list[Routed]]] = {}
        for i in order:
            results[i] = self._entry(ctx, raws[i], i)
        mapped = [results[i] for i in range(len(raws))]
        if outcome.bundle_type == "transaction" and any(m[0].status[:3] != "200" for m in mapped):
            outcome.entries = [m[0] for m in mapped]
            return outcome  # all or nothing: nothing sent
        events = [event for m in mapped for event in m[3]]
        if events:
            try:
                await self.sink.send(events)
            except Exception as exc:
                log.warning(
                    "FHIR %s: events not acknowledged by Kafka (%s)", feed.name, type(exc).__name__
                )
                raise BrokerUnavailable(str(type(exc).__name__)) from None
        for entry, key, version, _ in mapped:
            if entry.status.startswith("200") and version:
                held.put("fhir-version", key, version)
        held.commit()  # one transaction
        outcome.entries = [m[0] for m in mapped]
        log.info(
            "FHIR %s: %d resources, %d events, %d refused",
            feed.name,
            len(mapped),
            outcome.events,
            len(outcome.failed),
        )
        return outcome

    def _entry(
        self, ctx: FhirContext, raw: object, index: int
    ) -> tuple[EntryOutcome, str, str, list[Routed]]:
        """One Bundle entry (or the resource posted): a broken entry fails alone."""
        if not isinstance(raw, dict):
            reason = f"entry {index} has no resource object (only resources are taken)"
            return self._bad(ctx.feed.name, raw, f"entry {index}", reason), "", "", []
        return self._map(ctx, raw)

    def _map(
        self, ctx: FhirContext, raw: dict[str, Any]
    ) -> tuple[EntryOutcome, str, str, list[Routed]]:
        kind = str(raw.get("resourceType", ""))
        model = MODELS.get(kind)
        reference = f"{kind}/{raw.get('id', '')}"
        if model is None:
            reason = (f"resource type {kind or '(none)'!r} is not read here (only "
                      f"{', '.join(MODELS)}): ignored, nothing stored")  # fmt: skip
            return EntryOutcome("200 OK", reference, reason=reason, unread=True), "", "", []
        try:
            resource: Resource = model.model_validate(raw)
        except ValidationError as exc:
            where = "; ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors())
            reason = f"invalid {kind} ({where[:150]})"
            return self._bad(ctx.feed.name, raw, reference, reason), "", "", []
        key, version = ctx.ref(resource), ctx.version(resource)
        if version and ctx.ledger.get("fhir-version", key) == version:
            return EntryOutcome("200 OK", reference, reason="version already taken"), "", "", []
        try:
            result = map_resource(ctx, resource)
        except (ResourceError, ValidationError) as exc:
            reason = str(exc) if isinstance(exc, ResourceError) else "an event would be invalid"
            return self._bad(ctx.feed.name, raw, reference, reason), "", "", []
        return EntryOutcome("200 OK", reference, len(result.events)), key, version, result.events

    def _bad(self, feed: str, raw: object, reference: str, reason: str) -> EntryOutcome:
        """Refused: kept encrypted, under sender `fhir:<feed>` so that a replay finds its feed."""
        if self.quarantine is not None:
            data = json.dumps(raw).encode()
            self.quarantine.put(data, reason, self.clock(), reference, f"fhir:{feed}")
        log.warning("FHIR %s refused: %s", reference, reason)
        return EntryOutcome("400 Bad Request", reference, reason=reason)

    def _refused(self, feed: str, body: dict[str, Any], reason: str) -> FhirOutcome:
        return FhirOutcome([self._bad(feed, body, "Bundle", reason)])


def _resource(entry: object) -> object:
    """An entry's resource, or what stands in its place when there is none (a refusal)."""
    return entry.get("resource") if isinstance(entry, dict) else entry


def _kind(raw: object) -> str:
    return str(raw.get("resourceType", "")) if isinstance(raw, dict) else ""
