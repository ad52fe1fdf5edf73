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
    quiet_start: time = time(8, 0)
    quiet_end: time = time(21, 0)
    sms_daily_cap: int = 1
    sms_weekly_cap: int = 3
    cap_policy: Literal["defer", "email"] = "defer"
    max_attempts: int = 5
    backoff_base: timedelta = timedelta(minutes=1)


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
    ) -> Decision:
        if cancelled_reason is not None:
            return Suppress(f"cancelled: {cancelled_reason}")
        if purpose == "care_team_alert":
            return Send((Channel.CARE_TEAM,), "care-team alert: own channels, no quiet hours")
        if recipient is None:
            return Suppress("no recipient on file for this patient")
        if purpose == "reply":
            if recipient.phone:
                return Send((Channel.SMS,), "reply to the patient's own message")
            return Suppress("reply: no phone on file")
        return self._reminder(recipient, now, sms_sent)

    def _reminder(
        self, recipient: Recipient, now: datetime, sms_sent: Sequence[datetime]
    ) -> Decision:
        usable = tuple(ch for ch in recipient.channel_order if recipient.usable(ch))
        if not usable:
            why = "; ".join(recipient.why_unusable(ch) for ch in recipient.channel_order)
            return Suppress(f"no usable channel: {why}")
        zone = ZoneInfo(recipient.time_zone)
        start = recipient.quiet_start or self.config.quiet_start
        end = recipient.quiet_end or self.config.quiet_end
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
                reasons.append(f"quiet hours {start:%H:%M}-{end:%H:%M} {recipient.time_zone}")
            return Defer(opening, "; ".join(reasons))
        order = " then ".join(usable)
        return Send(usable, "; ".join([*reasons, f"consent and hours allow: {order}"]))

    def after_failure(self, attempts: int, now: datetime) -> Retry | GiveUp:
        """`attempts` made so far (all channels failed on each). Exponential backoff, then stop."""
        if attempts >= self.config.max_attempts:
            return GiveUp(f"all channels failed {attempts} times; giving up")
        delay = self.config.backoff_base * (2 ** (attempts - 1))
        return Retry(now + delay, f"attempt {attempts} failed; retry in {delay}")
