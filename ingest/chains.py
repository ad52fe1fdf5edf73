"""Correction chains: which event a correction or a retraction targets, the same way every time.

The corrections of one fact are ordered by (stamp, id): HL7 MSH-7 and MSH-10, FHIR
meta.lastUpdated and versionId. A correction targets the replacement made by the correction
before it (or the fact itself), so the fold keeps only the last one whatever order the events
arrive in downstream; a correction older than one already sent is stale and sends nothing; the
same correction sent again gets the same target.
"""

from __future__ import annotations

from ingest.ledger import Ledger


def latest(ledger: Ledger, fact_id: str) -> str:
    """The id of the fact's live version: its last replacement, or itself."""
    links = ledger.chain(fact_id)
    return links[-1][3] if links else fact_id


def correction_target(ledger: Ledger, fact_id: str, stamp: str, correction: str) -> str | None:
    """The target of a correction of `fact_id` (None: stale) and remember it; the replacement's
    id is `<fact_id>@<correction>`."""
    links = ledger.chain(fact_id)
    known = next((link for link in links if link[1] == correction), None)
    if known is not None:
        return known[2]
    if links and (links[-1][0], links[-1][1]) > (stamp, correction):
        return None
    target = links[-1][3] if links else fact_id
    ledger.add_correction(fact_id, stamp, correction, target, f"{fact_id}@{correction}")
    return target
