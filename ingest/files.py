"""`remission-watch ingest file`: a file or batch (FHS/BHS) through the same mapping (backfills)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ingest.backfill import COMMIT_EVERY, load_on_workers
from ingest.hl7_intake import Hl7Intake
from ingest.hl7_wire import WireError, split_segments


async def load_file(intake: Hl7Intake, path: Path, workers: int = 1) -> Counter[str]:
    """Every message of the file; returns how many got AA, AE, AR, and the events sent.

    Kafka acknowledgements are awaited every `COMMIT_EVERY` messages (a backfill does not wait
    message by message); the ledger keeps those messages' writes (control ids, correction
    links) only after that, in one transaction, and a failed drain raises with the messages
    since the last one forgotten: a re-run maps them again. With `workers` > 1, that many
    processes decode and map the messages that need no ledger (ingest.backfill)."""
    raw = path.read_bytes()
    counts: Counter[str] = Counter()
    try:
        groups = list(split_segments(raw))
    except WireError:
        groups = []
    if not groups:  # not HL7 at all: refused and quarantined with its reason, counted as answered
        outcome = await intake.handle(raw)
        counts[outcome.code], counts["events"] = 1, 0  # the code its ACK would carry
        return counts
    if workers > 1:
        await load_on_workers(intake, groups, workers, counts)
        await intake.drain()
        return counts
    for start in range(0, len(groups), COMMIT_EVERY):
        for segments in groups[start : start + COMMIT_EVERY]:
            size = sum(len(s) + 1 for s in segments)
            outcome = await intake.handle_segments(segments, size)
            counts[outcome.code] += 1
            counts["events"] += outcome.events
        await intake.drain()  # Kafka's acknowledgement, then one ledger transaction
    return counts
