"""A recipient as the policy sees it: decrypted contacts, zone, language, consent per channel."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from enum import StrEnum


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"
    CARE_TEAM = "care_team"


PATIENT_CHANNELS = (Channel.SMS, Channel.EMAIL)


@dataclass(frozen=True)
class Consent:
    """The latest consent event for one channel: given or revoked, when and how."""

    channel: Channel
    granted: bool
    method: str
    occurred_at: datetime
    unencrypted_ack: bool = False


@dataclass(frozen=True)
class Recipient:
    patient_id: str
    phone: str | None = None
    email: str | None = None
    time_zone: str | None = None  # None: not on file; the reminder's zone is used
    language: str = "en"
    window_start: time | None = None
    window_end: time | None = None
    channel_order: tuple[Channel, ...] = PATIENT_CHANNELS
    consents: dict[Channel, Consent] = field(default_factory=dict)

    def address(self, channel: Channel) -> str | None:
        return {Channel.SMS: self.phone, Channel.EMAIL: self.email}.get(channel)

    def usable(self, channel: Channel) -> bool:
        """A contact point, consent given and the unencrypted-channel risk acknowledged."""
        consent = self.consents.get(channel)
        return bool(
            self.address(channel) and consent and consent.granted and consent.unencrypted_ack
        )

    def why_unusable(self, channel: Channel) -> str:
        consent = self.consents.get(channel)
        if not self.address(channel):
            return f"{channel}: no contact on file"
        if consent is None:
            return f"{channel}: consent never recorded"
        if not consent.granted:
            return f"{channel}: consent revoked ({consent.method}, {consent.occurred_at:%Y-%m-%d})"
        return f"{channel}: unencrypted-channel risk not acknowledged"


def parse_hhmm(text: str | None) -> time | None:
    if not text:
        return None
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def format_hhmm(value: time | None) -> str | None:
    return None if value is None else value.strftime("%H:%M")
