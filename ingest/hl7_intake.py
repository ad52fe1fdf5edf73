"""One HL7 message in, its events acknowledged by Kafka, one ACK out; the MLLP listener and the
file loader both call `Hl7Intake.handle`.

Order of work: decode (MSH-18) → parse → which feed → checks (processing id, size) → seen this
control id? → pseudonym → events → Kafka acknowledges → the ledger keeps the message's writes
(its correction links, "sent" marks and control id, in one transaction) → AA. A message that
fails is quarantined encrypted and answered AE/AR with an ERR segment; a broker that does not
acknowledge gets AE (resend later) and the ledger keeps nothing of the message, so the messages
after it map as if it had never come. Logs name control ids only.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from ingest.ack import ack_code, build_ack
from ingest.config import Feed, IngestConfig
from ingest.hl7_fields import Header, MessageError, Reader, parse_dtm
from ingest.hl7_map import Context, find_mrn, map_message
from ingest.hl7_wire import CHARSETS, WireError, decode_message, segments_of
from ingest.ledger import Ledger, Staged
from ingest.quarantine import QuarantineStore
from ingest.sink import EventSink, route
from models.events import EventRetracted

log = logging.getLogger("ingest.hl7")


def wall_clock() -> datetime:
    return datetime.now(UTC)


class Unacknowledged(RuntimeError):
    """Kafka did not acknowledge a backfill's events: the messages since the last drain are not
    remembered (their ledger writes are dropped); loading the file again sends them again."""


@dataclass(frozen=True)
class Outcome:
    code: str  # AA, AE or AR
    control_id: str
    events: int
    ignored: int = 0
    reason: str = ""
    ack: bytes | None = None  # None: the sender asked for no acknowledgement


class Hl7Intake:
    def __init__(
        self,
        config: IngestConfig,
        sink: EventSink,
        ledger: Ledger,
        quarantine: QuarantineStore | None,
        clock: Callable[[], datetime] = wall_clock,
        defer: bool = False,
        known_lab: Callable[[str], bool] | None = None,
    ) -> None:
        """`defer`: for backfills, do not wait for Kafka message by message; the messages'
        ledger writes are held in `staged` (later messages map against them) until `drain()`
        has Kafka's acknowledgement of everything enqueued."""
        self.config, self.sink, self.ledger, self.quarantine = config, sink, ledger, quarantine
        self.clock, self.defer, self.known_lab = clock, defer, known_lab
        self.staged = Staged(ledger)  # a backfill's messages since the last drain
        # From mapping to commit one message at a time: a message mapped while another is
        # waiting for Kafka would not see that one's links (two connections, two corrections).
        self._one_at_a_time = asyncio.Lock()
        self._key, self._prefix = config.pseudonym.key(), config.pseudonym.prefix
        self._largest = max(f.max_message_bytes for f in config.feeds)

    async def handle(self, raw: bytes) -> Outcome:
        """One message's bytes (an MLLP payload or one message of a file)."""
        return await self.handle_segments(segments_of(raw), len(raw))

    async def handle_segments(self, segments: list[bytes], size: int) -> Outcome:
        header: Header | None = None
        try:
            if not segments:
                raise WireError("empty message", "100")
            if size > self._largest:
                raise MessageError(f"message of {size} bytes is too large", "207", "AR")
            text = decode_message(segments)
            try:
                reader = Reader(text)
            except Exception:  # python-hl7 raises several kinds; none carries a useful reason
                raise WireError("not an HL7 v2 message", "100") from None
            header = Header.of(reader)
            return await self._accept(reader, header, text, size)
        except (WireError, MessageError) as exc:
            error = exc if isinstance(exc, MessageError) else MessageError(str(exc), exc.code)
            return self._refuse(segments, header, error)
        except Exception as exc:  # a bug: its message may quote data, so only its type is told
            log.error("control id %s: internal error %s", header.control_id if header else "-",
                      type(exc).__name__)  # fmt: skip
            error = MessageError(f"internal error ({type(exc).__name__})", "207")
            return self._refuse(segments, header, error)

    async def _accept(self, reader: Reader, header: Header, text: str, size: int) -> Outcome:
        feed = self.config.hl7_feed(header.facility, header.application)
        if feed is None:
            raise MessageError("MSH-4 sending facility is not a configured feed", "207", "AR",
                               "MSH^1^4")  # fmt: skip
        if size > feed.max_message_bytes:
            raise MessageError(f"message of {size} bytes is too large for this feed", "207", "AR")
        if header.processing_id not in feed.processing_ids:
            raise MessageError(f"MSH-11 processing id {header.processing_id!r} is not taken",
                               "202", "AR", "MSH^1^11")  # fmt: skip
        if not header.control_id:
            raise MessageError("MSH-10 is empty", "101", "AR", "MSH^1^10")
        async with self._one_at_a_time:
            return await self._apply(reader, header, feed, text)

    async def _apply(self, reader: Reader, header: Header, feed: Feed, text: str) -> Outcome:
        digest = hashlib.sha256(text.encode()).hexdigest()
        below = self.staged if self.defer else self.ledger
        before = below.seen(feed.name, header.control_id)
        if before is not None:
            # Re-sent: AA again, nothing added. Different content under a used control id is a
            # sender's mistake: not applied, kept (encrypted) for someone to look at.
            if before != digest and self.quarantine is not None:
                reason = "control id already acknowledged for a different message; not applied"
                self.quarantine.put(text.encode(), reason, self.clock(), header.control_id,
                                    header.facility)  # fmt: skip
            log.info("control id %s from %s: re-sent%s, AA, nothing added", header.control_id,
                     feed.name, "" if before == digest else " with other content")  # fmt: skip
            return self._answer(header, "AA", None, 0)
        recorded = parse_dtm(header.sent_at_text, feed.zone, "MSH^1^7")
        patient = feed.pseudonym(self._key, self._prefix, find_mrn(reader, feed))
        held = Staged(below)  # the message's ledger writes, kept only once Kafka has its events
        ctx = Context(reader, header, feed, patient, recorded, held, self.known_lab)
        try:
            mapped = map_message(ctx)
        except ValidationError as exc:
            where = "; ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors())
            raise MessageError(f"an event would be invalid ({where[:150]})", "102") from None
        routed = [
            route(e, mapped.topic_of(e) if isinstance(e, EventRetracted) else None)
            for e in mapped.events
        ]
        try:
            if routed and self.defer:
                await self.sink.enqueue(routed)
            elif routed:
                await self.sink.send(routed)
        except Exception as exc:
            log.warning("control id %s from %s: events not acknowledged by Kafka (%s): AE",
                        header.control_id, feed.name, type(exc).__name__)  # fmt: skip
            error = MessageError("events could not be stored; send the message again", "207")
            return self._answer(header, "AE", error, 0)
        held.remember(feed.name, header.control_id, digest)
        held.commit()  # to the ledger (one transaction), or to `staged` until the drain
        log.info("control id %s from %s: AA, %d events, %d left out", header.control_id,
                 feed.name, len(routed), mapped.ignored)  # fmt: skip
        return self._answer(header, "AA", None, len(routed), mapped.ignored)

    async def drain(self) -> None:
        """Wait until Kafka has acknowledged everything enqueued, then keep the ledger writes of
        those messages (one transaction). If it has not, they are forgotten and this raises: a
        re-run of the file maps those messages again, as if they had never come."""
        try:
            await self.sink.drain()
        except Exception as exc:
            self.staged.discard()
            raise Unacknowledged(
                f"Kafka did not acknowledge the events ({type(exc).__name__}); the messages "
                "after the last acknowledged chunk of the file are not remembered: load it again"
            ) from exc
        except BaseException:
            self.staged.discard()
            raise
        self.staged.commit()

    def _refuse(self, segments: list[bytes], header: Header | None, error: MessageError) -> Outcome:
        control = header.control_id if header else ""
        sender = header.facility if header else ""
        entry = ""
        if self.quarantine is not None and segments:
            raw = b"\r".join(segments)
            entry = self.quarantine.put(raw, error.reason, self.clock(), control, sender)
        kept = f"quarantined as {entry}" if entry else "nothing to quarantine"
        log.warning("control id %s: %s (%s %s) %s", control or "(none)", error.ack, error.code,
                    error.reason, kept)  # fmt: skip
        return self._answer(header, error.ack, error, 0)

    def _answer(
        self, header: Header | None, code: str, error: MessageError | None, events: int,
        ignored: int = 0,
    ) -> Outcome:  # fmt: skip
        msa = ack_code(header, error)
        charset = CHARSETS.get((header.charset if header else "").upper(), "ascii")
        ack = None
        if msa is not None:
            ack = build_ack(header, msa, error, self.clock()).encode(charset, "replace")
        control = header.control_id if header else ""
        return Outcome(code, control, events, ignored, error.reason if error else "", ack)
