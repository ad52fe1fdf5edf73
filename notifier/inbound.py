"""`InboundHandler`: an SMS reply -> opt-out, help, or a check-in answer on Kafka, plus replies."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from models.events import CheckinAnswered
from models.ids import derive_id
from models.templates import MessageKind
from notifier.checkins import CheckinSink
from notifier.clock import Clock
from notifier.inbox import CHECKIN_WINDOW, InboundRecord, SqlInbox
from notifier.recipient_store import SqlRecipients
from notifier.recipients import Channel, Consent, Recipient
from notifier.replies import Intent, classify, mentions_self_harm

log = logging.getLogger(__name__)


class InboundSms(BaseModel):
    """The webhook body: who sent it (E.164), the text, and the provider's message id."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    sender: str = Field(alias="from", min_length=3, max_length=32)
    body: str = Field(max_length=1600)
    message_id: str = Field(min_length=1, max_length=200)
    received_at: AwareDatetime | None = None


@dataclass(frozen=True)
class Answer:
    """One patient answer, whichever way it came: `via` is "sms" or "web" (the check-in page)."""

    message_id: str  # the provider's message id, or `web-{reminder_id}`
    body: str  # stored encrypted
    received_at: datetime | None
    intent: Intent
    via: str


@dataclass(frozen=True)
class InboundOutcome:
    status: int  # HTTP status for the webhook
    action: str


MAX_BODY_BYTES = 16 * 1024  # an SMS is at most 1,600 characters; JSON escapes can grow it 6x
SIGNATURE_WINDOW_SECONDS = 300  # a signed request older or newer than this is a replay


def sign(secret: str, timestamp: int, raw_body: bytes) -> str:
    """X-RW-Signature for a body sent at `timestamp` (Unix seconds, also sent as X-RW-Timestamp):
    hex HMAC-SHA256 over `<timestamp>.` followed by the raw body."""
    message = str(timestamp).encode() + b"." + raw_body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, raw_body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers a sender (the demo, tests, an SMS-provider adapter) puts on a body."""
    sent_at = int(time.time()) if timestamp is None else timestamp
    return {"X-RW-Timestamp": str(sent_at), "X-RW-Signature": sign(secret, sent_at, raw_body)}


def signature_valid(
    secret: str,
    raw_body: bytes,
    signature: str | None,
    timestamp: str | None,
    now: float,
    window: float = SIGNATURE_WINDOW_SECONDS,
) -> bool:
    """The signature matches (constant-time) and its timestamp is within `window` seconds of
    `now` (the wall clock): a captured request cannot be replayed later. A replay inside the
    window repeats a provider message id, which the inbox absorbs ("duplicate")."""
    if not signature or not timestamp or not timestamp.strip().isdigit():
        return False
    sent_at = int(timestamp.strip())
    if abs(now - sent_at) > window:
        return False
    return hmac.compare_digest(sign(secret, sent_at, raw_body), signature.strip().lower())


class InboundHandler:
    def __init__(
        self,
        recipients: SqlRecipients,
        inbox: SqlInbox,
        checkins: CheckinSink,
        clock: Clock,
        send_now: Callable[[str], Awaitable[object]] | None = None,
    ) -> None:
        self.recipients, self.inbox, self.checkins, self.clock = recipients, inbox, checkins, clock
        self.send_now = send_now

    async def handle(self, sms: InboundSms) -> InboundOutcome:
        patient_id = await asyncio.to_thread(self.recipients.find_by_phone, sms.sender)
        if patient_id is None:
            log.info("inbound message from an unknown sender rejected")
            return InboundOutcome(404, "unknown_sender")
        answer = Answer(sms.message_id, sms.body, sms.received_at, classify(sms.body), "sms")
        return await self._answer(patient_id, answer)

    async def handle_web(
        self, reminder_id: str, patient_id: str, score: int | None, text: str
    ) -> InboundOutcome:
        """An answer from the check-in page (notifier/checkin_links.py), taken down the same
        path as an SMS reply: the same inbox row, replies and `CheckinAnswered` event, the
        free text read by the same self-harm detection. One answer per check-in: a second is
        refused (409), though a first answer whose event was not yet published is published.
        The page is not an SMS consent channel: opt-out wording there is kept as free text."""
        intent = Intent(
            "checkin",
            score=score,
            free_text=bool(text.strip()),
            self_harm=mentions_self_harm(text),
        )
        stored = f"[check-in page] score: {'-' if score is None else score}\n{text}"
        answer = Answer(f"web-{reminder_id}", stored, None, intent, "web")
        outcome = await self._answer(patient_id, answer)
        if outcome.action == "duplicate":
            return InboundOutcome(409, "already_answered")
        return outcome

    async def _answer(self, patient_id: str, answer: Answer) -> InboundOutcome:
        previous = await asyncio.to_thread(self.inbox.seen, answer.message_id)
        if previous is not None:
            await self._publish_if_pending(
                answer, patient_id, previous.event_id, previous.published
            )
            return InboundOutcome(200, "duplicate")
        recipient = await asyncio.to_thread(self.recipients.get, patient_id)
        assert recipient is not None
        now = self.clock()
        intent = answer.intent
        action, replies, consent = await asyncio.to_thread(
            self._effects, intent, recipient, answer.message_id, now
        )
        answered = action in ("checkin", "unscored") or (
            action.startswith("opt_out") and intent.self_harm
        )
        event_id = derive_id("checkin", answer.message_id) if answered else None
        record = InboundRecord(
            answer.message_id,
            patient_id,
            answer.body,
            action,
            answer.received_at or now,
            intent.score,
            event_id,
            reply_by="email" if answer.via == "web" else "sms",
        )
        if await asyncio.to_thread(self.inbox.accept, record, replies, consent, now) is None:
            return InboundOutcome(200, "duplicate")
        log.info("inbound %s for patient %s (%s)", action, patient_id, answer.via)
        await self._publish_if_pending(answer, patient_id, event_id, False, now)
        for reply_id, _kind in replies:
            if self.send_now is not None:
                await self.send_now(reply_id)
        return InboundOutcome(200, action)

    def _effects(
        self, intent: Intent, recipient: Recipient, message_id: str, now: datetime
    ) -> tuple[str, list[tuple[str, str]], Consent | None]:
        pid = recipient.patient_id
        crisis = [(derive_id("reply", message_id), MessageKind.CRISIS_RESOURCES.value)]
        if intent.kind == "opt_out":
            # A self-harm disclosure inside an opt-out still reaches a human (the event) and
            # gets the crisis resources; the opt-out is honoured as well.
            extra = crisis if intent.self_harm else []
            consent = recipient.consents.get(Channel.SMS)
            if consent is None or not consent.granted:
                return "opt_out_repeat", extra, None
            # The acknowledgement is kept on the revocation so that START can restore it.
            # The method says "sms" and that it was a reply, never the wording (free text).
            revoke = Consent(
                Channel.SMS, False, "sms reply (opt-out)", now, consent.unencrypted_ack
            )
            # One confirmation per consent given: two STOPs at once share the reply id.
            reply = derive_id("reply", pid, MessageKind.OPT_OUT_CONFIRMATION, consent.occurred_at)
            return "opt_out", [(reply, MessageKind.OPT_OUT_CONFIRMATION.value), *extra], revoke
        if intent.kind == "opt_in":
            consent = recipient.consents.get(Channel.SMS)
            if consent is None or consent.granted or not consent.method.startswith("sms "):
                return "unrecognised", [], None  # only undoes an opt-out made by text
            grant = Consent(Channel.SMS, True, "sms reply (START)", now, consent.unencrypted_ack)
            return "opt_in", [], grant
        if intent.kind == "help":
            return "help", [(derive_id("reply", message_id), MessageKind.HELP.value)], None
        if intent.kind == "ambiguous":
            if intent.self_harm:
                return "checkin", crisis, None
            checkin = self.inbox.open_checkin(pid, now - CHECKIN_WINDOW)
            if checkin is None:
                return "unrecognised", [], None
            # Kept unscored (the event has no score) and the patient is asked once per
            # check-in for a single number: a second unclear reply shares the reply id.
            ask = derive_id("reply", pid, MessageKind.CHECKIN_ASK_NUMBER, checkin)
            return "unscored", [(ask, MessageKind.CHECKIN_ASK_NUMBER.value)], None
        if intent.kind == "checkin" and (
            intent.self_harm or self.inbox.checkin_sent_since(pid, now - CHECKIN_WINDOW)
        ):
            reply_kind = (
                MessageKind.CRISIS_RESOURCES
                if intent.self_harm
                else MessageKind.CHECKIN_SUPPORT
                if (intent.score or 0) >= 5
                else MessageKind.CHECKIN_THANKS
            )
            return "checkin", [(derive_id("reply", message_id), reply_kind.value)], None
        if intent.kind == "checkin":
            return "no_open_checkin", [], None
        return "unrecognised", [], None

    async def _publish_if_pending(
        self,
        answer: Answer,
        patient_id: str,
        event_id: str | None,
        published: bool,
        now: datetime | None = None,
    ) -> None:
        if event_id is None or published:
            return
        now = now or self.clock()
        intent = answer.intent
        event = CheckinAnswered(
            event_id=event_id,
            patient_id=patient_id,
            occurred_at=answer.received_at or now,
            recorded_at=now,
            source=f"notifier.{answer.via}",
            score=intent.score,
            free_text=intent.free_text,
            self_harm=intent.self_harm,
        )
        await self.checkins.publish(event)
        await asyncio.to_thread(self.inbox.mark_published, answer.message_id, now)
