"""Polls a FHIR server: `<type>?_lastUpdated=ge<last seen - overlap>&_sort=_lastUpdated`, every
`next` link followed, each page through the same intake (which drops versions already taken, so
the overlap window costs nothing but reads). The cursor per resource type is kept in the ledger
and moves only after a page's events are acknowledged."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import httpx

from ingest.config import Feed
from ingest.fhir_intake import FhirIntake

log = logging.getLogger("ingest.fhir.poll")


class FhirPoller:
    def __init__(self, intake: FhirIntake, feed: Feed, client: httpx.AsyncClient) -> None:
        if not feed.fhir_base:
            raise ValueError(f"FHIR feed {feed.name!r} has no fhir_base to poll")
        self.intake, self.feed, self.client = intake, feed, client
        self.base = feed.fhir_base.rstrip("/")

    async def poll_once(self) -> int:
        """One pass over every resource type; returns the events sent."""
        sent = 0
        for kind in self.feed.poll_types:  # Patients first: they carry the MRN
            sent += await self._poll(kind)
        return sent

    async def _poll(self, kind: str) -> int:
        key = f"{self.feed.name}:{kind}"
        cursor = self.intake.ledger.get("fhir-cursor", key)
        params: dict[str, str] | None = {"_sort": "_lastUpdated", "_count": "100"}
        if cursor:
            since = datetime.fromisoformat(cursor) - timedelta(
                seconds=self.feed.poll_overlap_seconds
            )
            params = {**(params or {}), "_lastUpdated": f"ge{since.isoformat()}"}
        url: str | None = f"{self.base}/{kind}"
        sent = 0
        while url:
            response = await self.client.get(url, params=params)
            response.raise_for_status()
            page: dict[str, Any] = response.json()
            result = await self.intake.accept(self.feed.name, page)
            sent += result.events
            newest = _newest(page)
            if newest and (cursor is None or newest > datetime.fromisoformat(cursor)):
                cursor = newest.isoformat()
                self.intake.ledger.put("fhir-cursor", key, cursor)
            url = next(
                (
                    link.get("url")
                    for link in page.get("link", [])
                    if link.get("relation") == "next"
                ),
                None,
            )
            params = None  # a next link carries its own query
        log.info("FHIR poll %s %s: %d events", self.feed.name, kind, sent)
        return sent


def _newest(page: dict[str, Any]) -> datetime | None:
    stamps = []
    for entry in page.get("entry", []):
        text = ((entry.get("resource") or {}).get("meta") or {}).get("lastUpdated")
        if text:
            stamps.append(datetime.fromisoformat(text.replace("Z", "+00:00")))
    return max(stamps) if stamps else None
