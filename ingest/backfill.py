"""A file backfill on several cores: worker processes decode, read and map the messages that need
nothing from the ledger (results and exams sent once: no correction, no retraction) and hand
back their events as Kafka records; this process takes them in file order, checks the control
ids, writes the ledger and produces. Anything else (a correction, a retraction, a re-sent
control id, an error) goes through `Hl7Intake` here, in its place in the file, so the result is
the same as a load on one core: the ledger sees every message in file order. As on one core,
the ledger writes are held (`Hl7Intake.staged`) and kept once Kafka has acknowledged them, at a
drain every `COMMIT_EVERY` messages or so.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import multiprocessing
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial

from ingest.config import IngestConfig
from ingest.hl7_fields import Header, Reader, parse_dtm
from ingest.hl7_intake import Hl7Intake
from ingest.hl7_map import Context, find_mrn, map_message
from ingest.hl7_wire import decode_message
from ingest.sink import route
from models.events import EventRetracted

log = logging.getLogger("ingest.hl7")
CHUNK = 200  # messages per task handed to a worker
COMMIT_EVERY = 500  # messages per drain: Kafka's acknowledgement, then one ledger transaction

Record = tuple[str, bytes, bytes]  # (event type whose topic it goes to, key, value)


@dataclass(frozen=True)
class Prepared:
    """One message mapped in a worker: what this process needs to send and remember it."""

    feed: str
    control_id: str
    digest: str
    records: list[Record]
    puts: list[tuple[str, str, str]]  # the ledger rows the mapping wrote
    ignored: int


class _NeedsLedger(Exception):
    """The message reads the ledger (a correction, a retraction): map it in the main process."""


class _WriteOnlyLedger:
    """The mapping's ledger in a worker: writes are kept to be replayed, a read sends the
    message back to the main process (only it sees the ledger as the file has built it)."""

    def __init__(self) -> None:
        self.puts: list[tuple[str, str, str]] = []

    def put(self, ns: str, key: str, value: str) -> None:
        self.puts.append((ns, key, value))

    def _read(self, *_args: object) -> None:
        raise _NeedsLedger

    seen = get = chain = remember = add_correction = _read


_worker: tuple[IngestConfig, bytes, str, Callable[[str], bool] | None] | None = None


def _start_worker(config: IngestConfig, with_known_labs: bool) -> None:
    global _worker
    known_lab = None
    if with_known_labs:
        from models.clocks import lab_code_mapped
        from remission_watch.protocol_files import load_builtin_catalog

        known_lab = partial(lab_code_mapped, catalog=load_builtin_catalog())
    _worker = (config, config.pseudonym.key(), config.pseudonym.prefix, known_lab)


def _prepare_chunk(chunk: list[list[bytes]]) -> list[Prepared | None]:
    return [_prepare(segments) for segments in chunk]


def _prepare(segments: list[bytes]) -> Prepared | None:
    """The message's events as records, or None: this process must take it itself."""
    assert _worker is not None
    config, key, prefix, known_lab = _worker
    try:
        size = sum(len(s) + 1 for s in segments)
        text = decode_message(segments)
        reader = Reader(text)
        header = Header.of(reader)
        feed = config.hl7_feed(header.facility, header.application)
        if (
            feed is None
            or size > feed.max_message_bytes
            or header.processing_id not in feed.processing_ids
            or not header.control_id
        ):
            return None
        recorded = parse_dtm(header.sent_at_text, feed.zone, "MSH^1^7")
        patient = feed.pseudonym(key, prefix, find_mrn(reader, feed))
        ledger = _WriteOnlyLedger()
        ctx = Context(reader, header, feed, patient, recorded, ledger, known_lab)  # type: ignore[arg-type]
        mapped = map_message(ctx)
        records = []
        for event in mapped.events:
            kind, _ = route(event, mapped.topic_of(event) if isinstance(event, EventRetracted)
                            else None)  # fmt: skip
            records.append((kind, event.patient_id.encode(), event.model_dump_json().encode()))
    except Exception:  # _NeedsLedger, or an error the main process will answer in full
        return None
    digest = hashlib.sha256(text.encode()).hexdigest()
    return Prepared(feed.name, header.control_id, digest, records, ledger.puts, mapped.ignored)


async def load_on_workers(
    intake: Hl7Intake, groups: list[list[bytes]], workers: int, counts: Counter[str]
) -> None:
    """Every message of `groups` through `workers` processes and this one, in file order:
    chunks are handed out ahead (two per worker) and their results taken back in order."""
    if not intake.defer:  # its messages' writes would be kept before their events are acknowledged
        raise ValueError("a backfill on workers needs an intake made with defer=True")
    context = multiprocessing.get_context("spawn")
    init = (intake.config, intake.known_lab is not None)
    chunks = [groups[i : i + CHUNK] for i in range(0, len(groups), CHUNK)]
    ahead, undrained = 2 * workers, 0
    with ProcessPoolExecutor(workers, context, initializer=_start_worker, initargs=init) as pool:
        futures = [pool.submit(_prepare_chunk, chunk) for chunk in chunks[:ahead]]
        for n, chunk in enumerate(chunks):
            results = await asyncio.wrap_future(futures[n])
            if n + ahead < len(chunks):
                futures.append(pool.submit(_prepare_chunk, chunks[n + ahead]))
            for segments, prepared in zip(chunk, results, strict=True):
                await _one(intake, segments, prepared, counts)
            undrained += len(chunk)
            if undrained >= COMMIT_EVERY:
                await intake.drain()
                undrained = 0


async def _one(
    intake: Hl7Intake, segments: list[bytes], prepared: Prepared | None, counts: Counter[str]
) -> None:
    if prepared is None or intake.staged.seen(prepared.feed, prepared.control_id):
        outcome = await intake.handle_segments(segments, sum(len(s) + 1 for s in segments))
        counts[outcome.code] += 1
        counts["events"] += outcome.events
        return
    await intake.sink.enqueue_records(prepared.records)
    with intake.staged.batch():  # held until the drain, as `Hl7Intake` holds its own
        for ns, key, value in prepared.puts:
            intake.staged.put(ns, key, value)
        intake.staged.remember(prepared.feed, prepared.control_id, prepared.digest)
    log.info("control id %s from %s: AA, %d events, %d left out", prepared.control_id,
             prepared.feed, len(prepared.records), prepared.ignored)  # fmt: skip
    counts["AA"] += 1
    counts["events"] += len(prepared.records)
