"""`DeliveryPolicy`: what to do with one delivery now. Pure: no I/O, `now` is passed in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from notifier.caps import sms_cap_block
from notifier.quiet_hours import next_allowed
from notifier.recipients import Channel, Recipient

Purpose = Literal["reminder", "care_team_alert", "reply"]


@dataclass(frozen=True)
class PolicyConfig:
    window_start: time = time(8, 0)
    window_end: time = time(21, 0)
    sms_daily_cap: int = 1
    sms_weekly_cap: int = 3
    cap_policy: Literal["defer", "email"] = "defer"
    max_attempts: int = 5  # replies only: reminders retry until their window closes
    backoff_base: timedelta = timedelta(minutes=1)
    max_backoff: timedelta = timedelta(hours=1)  # a recovered channel is used within this


@dataclass(frozen=True)
class Send:
    channels: tuple[Channel, ...]  # in order: the next is the fallback if one fails
    reason: str


@dataclass(frozen=True)
class Defer:
    until: datetime
    reason: str


@dataclass(frozen=True)
class Suppress:
    reason: str


Decision = Send | Defer | Suppress


@dataclass(frozen=True)
class Retry:
    at: datetime
    reason: str


@dataclass(frozen=True)
class GiveUp:
    reason: str


class DeliveryPolicy:
    """Consent, opt-out, cancellation, quiet hours, SMS caps, channel order, retries."""

    def __init__(self, config: PolicyConfig) -> None:
        self.config = config

    def decide(
        self,
        purpose: Purpose,
        recipient: Recipient | None,
        now: datetime,
        sms_sent: Sequence[datetime] = (),
        cancelled_reason: str | None = None,
        reminder_zone: str | None = None,
        reply_by: Channel = Channel.SMS,
    ) -> Decision:
        """`reminder_zone`: the patient's zone as the reminder carries it; used when the
        recipient has none on file (47 CFR 64.1200(c)(1): hours at the called party's
        location). Neither: the reminder is not sent (no silent UTC default). `reply_by`: the
        channel the patient's own message came by (an answer on the check-in page: e-mail)."""
        if cancelled_reason is not None:
            return Suppress(f"cancelled: {cancelled_reason}")
        if purpose == "care_team_alert":
            return Send((Channel.CARE_TEAM,), "care-team alert: own channels, no quiet hours")
        if recipient is None:
            return Suppress("no recipient on file for this patient")
        if purpose == "reply" and reply_by is Channel.EMAIL:
            if recipient.email:
                return Send((Channel.EMAIL,), "reply to the patient's answer on the check-in page")
            return Suppress("reply: no e-mail address on file")
        if purpose == "reply":
            if recipient.phone:
                return Send((Channel.SMS,), "reply to the patient's own message")
            return Suppress("reply: no phone on file")
        return self._reminder(recipient, now, sms_sent, reminder_zone)

    def _reminder(
        self,
        recipient: Recipient,
        now: datetime,
        sms_sent: Sequence[datetime],
        reminder_zone: str | None,
    ) -> Decision:
        usable = tuple(ch for ch in recipient.channel_order if recipient.usable(ch))
        if not usable:
            why = "; ".join(recipient.why_unusable(ch) for ch in recipient.channel_order)
            return Suppress(f"no usable channel: {why}")
        zone_name = recipient.time_zone or reminder_zone
        if zone_name is None:
            return Suppress("no time zone for this patient (recipient or reminder): not sent")
        zone = ZoneInfo(zone_name)
        where = "" if recipient.time_zone else " (the reminder's zone: recipient has none)"
        start = recipient.window_start or self.config.window_start
        end = recipient.window_end or self.config.window_end
        reasons: list[str] = []
        earliest = now
        if usable[0] is Channel.SMS:
            block = sms_cap_block(
                now, zone, sms_sent, self.config.sms_daily_cap, self.config.sms_weekly_cap
            )
            if block and self.config.cap_policy == "email" and Channel.EMAIL in usable:
                usable = (Channel.EMAIL,)
                reasons.append(f"{block.reason}: email instead")
            elif block:
                earliest = block.until
                reasons.append(block.reason)
        opening = next_allowed(earliest, zone, start, end)
        if opening > now:
            if opening > earliest:
                reasons.append(
                    f"outside sending window {start:%H:%M}-{end:%H:%M} {zone_name}{where}"
                )
            return Defer(opening, "; ".join(reasons))
        order = " then ".join(usable)
        hours = f"{now.astimezone(zone):%H:%M} {zone_name}{where}"
        return Send(usable, "; ".join([*reasons, f"consent and hours ({hours}) allow: {order}"]))

    def after_failure(
        self,
        attempts: int,
        now: datetime,
        purpose: Purpose = "reminder",
        horizon: datetime | None = None,
        why: str = "all channels failed",
    ) -> Retry | GiveUp:
        """`attempts` made so far (all channels failed on each); exponential backoff capped at
        `max_backoff`, so a channel that recovers is used again within it.

        Care-team alerts (self-harm included) never give up. A reminder is retried until its
        `horizon` (the end of the item's due window): it waits out an outage and is sent when
        a channel recovers, and gives up only when sending it would no longer help. Replies
        (and a reminder without a horizon) stop after `max_attempts`."""
        delay = min(
            self.config.backoff_base * (2 ** min(attempts - 1, 30)), self.config.max_backoff
        )
        at = now + delay
        retry = f"{why} (attempt {attempts}); next try {at:%Y-%m-%d %H:%M} UTC"
        if purpose == "care_team_alert":
            return Retry(at, f"{retry}; a care-team alert is retried until delivered")
        if purpose == "reminder" and horizon is not None:
            if at <= horizon:
                return Retry(at, f"{retry}, until the window closes {horizon:%Y-%m-%d %H:%M} UTC")
            return GiveUp(f"{why} (attempt {attempts}); the reminder's window has closed")
        if attempts >= self.config.max_attempts:
            return GiveUp(f"{why} {attempts} times; giving up")
        return Retry(at, retry)
