"""FHIR R4 resources and Bundles in, events acknowledged by Kafka, an outcome per resource out.

A Bundle's Patients are read first (they carry the MRN the other resources' subjects need). A
version already taken (same resource, same meta.versionId, or lastUpdated without one) adds
nothing: the poller's overlap window and a re-sent notification are harmless. A `transaction`
Bundle is all or nothing; a `batch` takes what it can and says which entries failed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ingest.config import IngestConfig
from ingest.fhir_map import FhirContext, ResourceError, map_resource
from ingest.fhir_models import MODELS, Bundle, Resource
from ingest.hl7_intake import wall_clock
from ingest.ledger import Ledger
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

    async def accept(self, feed_name: str, body: dict[str, Any]) -> FhirOutcome:
        feed = self.config.fhir_feed(feed_name)
        if feed is None:
            raise FeedUnknown(feed_name)
        ctx = FhirContext(feed, self._key, self._prefix, self.ledger, self.known_lab)
        if body.get("resourceType") == "Bundle":
            try:
                bundle = Bundle.model_validate(body)
            except ValidationError:
                return self._refused(body, "not a valid Bundle")
            if bundle.type not in _BUNDLES:
                return self._refused(body, f"Bundle type {bundle.type!r} is not taken")
            raws = [e.resource for e in bundle.entry if e.resource]
            raws.sort(key=lambda r: r.get("resourceType") != "Patient")  # Patients first
            outcome = FhirOutcome(bundle_type=bundle.type)
        else:
            raws, outcome = [body], FhirOutcome()
        mapped: list[tuple[EntryOutcome, str, str, list[Routed]]] = []
        for raw in raws:
            mapped.append(self._map(ctx, raw))
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
                self.ledger.put("fhir-version", key, version)
        outcome.entries = [m[0] for m in mapped]
        log.info(
            "FHIR %s: %d resources, %d events, %d refused",
            feed.name,
            len(mapped),
            outcome.events,
            len(outcome.failed),
        )
        return outcome

    def _map(
        self, ctx: FhirContext, raw: dict[str, Any]
    ) -> tuple[EntryOutcome, str, str, list[Routed]]:
        kind = str(raw.get("resourceType", ""))
        model = MODELS.get(kind)
        reference = f"{kind}/{raw.get('id', '')}"
        if model is None:
            return EntryOutcome("200 OK", reference, reason="resource type not read"), "", "", []
        try:
            resource: Resource = model.model_validate(raw)
        except ValidationError as exc:
            where = "; ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors())
            return self._bad(raw, reference, f"invalid {kind} ({where[:150]})"), "", "", []
        key, version = ctx.ref(resource), ctx.version(resource)
        if version and self.ledger.get("fhir-version", key) == version:
            return EntryOutcome("200 OK", reference, reason="version already taken"), "", "", []
        try:
            result = map_resource(ctx, resource)
        except (ResourceError, ValidationError) as exc:
            reason = str(exc) if isinstance(exc, ResourceError) else "an event would be invalid"
            return self._bad(raw, reference, reason), "", "", []
        return EntryOutcome("200 OK", reference, len(result.events)), key, version, result.events

    def _bad(self, raw: dict[str, Any], reference: str, reason: str) -> EntryOutcome:
        if self.quarantine is not None:
            self.quarantine.put(json.dumps(raw).encode(), reason, self.clock(), reference, "fhir")
        log.warning("FHIR %s refused: %s", reference, reason)
        return EntryOutcome("400 Bad Request", reference, reason=reason)

    def _refused(self, body: dict[str, Any], reason: str) -> FhirOutcome:
        return FhirOutcome([self._bad(body, "Bundle", reason)])
