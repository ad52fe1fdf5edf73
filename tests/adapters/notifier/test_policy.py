"""DeliveryPolicy: consent, opt-out, cancellation, quiet hours, caps, fallback, retries."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifier.policy import Defer, DeliveryPolicy, GiveUp, PolicyConfig, Retry, Send, Suppress
from notifier.recipients import Channel, Consent, Recipient

NY = ZoneInfo("America/New_York")
NOON_NY = datetime(2027, 3, 10, 12, tzinfo=NY).astimezone(UTC)


def consent(channel: Channel, granted: bool = True, ack: bool = True) -> Consent:
    return Consent(channel, granted, "paper form", NOON_NY - timedelta(days=30), ack)


def recipient(**changes: object) -> Recipient:
    base = Recipient(
        patient_id="p-1",
        phone="+15552017788",
        email="pat@example.org",
        time_zone="America/New_York",
        consents={Channel.SMS: consent(Channel.SMS), Channel.EMAIL: consent(Channel.EMAIL)},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


policy = DeliveryPolicy(PolicyConfig())


def test_sends_by_preferred_channel_with_fallback_in_order() -> None:
    decision = policy.decide("reminder", recipient(), NOON_NY)
    assert isinstance(decision, Send)
    assert decision.channels == (Channel.SMS, Channel.EMAIL)


def test_cancelled_reminder_is_suppressed_with_the_reason() -> None:
    decision = policy.decide("reminder", recipient(), NOON_NY, cancelled_reason="done elsewhere")
    assert decision == Suppress("cancelled: done elsewhere")


def test_no_recipient_is_suppressed() -> None:
    assert isinstance(policy.decide("reminder", None, NOON_NY), Suppress)


@pytest.mark.parametrize(
    ("consents", "expected"),
    [
        ({}, "consent never recorded"),
        ({Channel.SMS: consent(Channel.SMS, granted=False)}, "consent revoked"),
        ({Channel.SMS: consent(Channel.SMS, ack=False)}, "not acknowledged"),
    ],
)
def test_without_usable_consent_nothing_is_sent(consents: dict, expected: str) -> None:
    decision = policy.decide("reminder", recipient(consents=consents, email=None), NOON_NY)
    assert isinstance(decision, Suppress)
    assert expected in decision.reason


def test_opted_out_sms_falls_to_email() -> None:
    r = recipient(
        consents={Channel.SMS: consent(Channel.SMS, False), Channel.EMAIL: consent(Channel.EMAIL)}
    )
    decision = policy.decide("reminder", r, NOON_NY)
    assert isinstance(decision, Send) and decision.channels == (Channel.EMAIL,)


def test_quiet_hours_defer_to_eight_local() -> None:
    late = datetime(2027, 3, 10, 22, tzinfo=NY)
    decision = policy.decide("reminder", recipient(), late)
    assert isinstance(decision, Defer)
    assert decision.until == datetime(2027, 3, 11, 8, tzinfo=NY)
    assert "outside sending window" in decision.reason


def test_recipient_quiet_hours_override_the_default() -> None:
    from datetime import time

    evening = datetime(2027, 3, 10, 20, 30, tzinfo=NY)
    decision = policy.decide("reminder", recipient(window_end=time(20, 0)), evening)
    assert isinstance(decision, Defer)


def test_daily_cap_defers_to_next_local_morning() -> None:
    sent = [datetime(2027, 3, 10, 9, tzinfo=NY)]
    decision = policy.decide("reminder", recipient(), NOON_NY, sms_sent=sent)
    assert isinstance(decision, Defer)
    assert decision.until == datetime(2027, 3, 11, 8, tzinfo=NY)  # midnight, then quiet hours
    assert "daily SMS cap" in decision.reason and "outside sending window" in decision.reason


def test_cap_policy_email_falls_back_to_email_now() -> None:
    email_policy = DeliveryPolicy(PolicyConfig(cap_policy="email"))
    sent = [datetime(2027, 3, 10, 9, tzinfo=NY)]
    decision = email_policy.decide("reminder", recipient(), NOON_NY, sms_sent=sent)
    assert isinstance(decision, Send) and decision.channels == (Channel.EMAIL,)
    assert "email instead" in decision.reason


def test_email_first_recipient_is_not_capped() -> None:
    r = recipient(channel_order=(Channel.EMAIL, Channel.SMS))
    sent = [datetime(2027, 3, 10, 9, tzinfo=NY)]
    decision = policy.decide("reminder", r, NOON_NY, sms_sent=sent)
    assert isinstance(decision, Send) and decision.channels[0] is Channel.EMAIL


def test_care_team_alerts_ignore_quiet_hours() -> None:
    night = datetime(2027, 3, 10, 3, tzinfo=NY)
    decision = policy.decide("care_team_alert", None, night)
    assert decision == Send((Channel.CARE_TEAM,), decision.reason)  # type: ignore[union-attr]


def test_replies_go_by_sms_at_night_even_after_opt_out() -> None:
    night = datetime(2027, 3, 10, 3, tzinfo=NY)
    r = recipient(consents={Channel.SMS: consent(Channel.SMS, granted=False)})
    decision = policy.decide("reply", r, night)
    assert isinstance(decision, Send) and decision.channels == (Channel.SMS,)


def test_exponential_backoff_then_give_up() -> None:
    p = DeliveryPolicy(PolicyConfig(max_attempts=4, backoff_base=timedelta(minutes=1)))
    delays = []
    for attempts in (1, 2, 3):
        verdict = p.after_failure(attempts, NOON_NY)
        assert isinstance(verdict, Retry)
        delays.append(verdict.at - NOON_NY)
    assert delays == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]
    assert isinstance(p.after_failure(4, NOON_NY), GiveUp)


LA_MIDNIGHT_30 = datetime(2027, 3, 10, 0, 30, tzinfo=ZoneInfo("America/Los_Angeles"))


def test_recipient_without_zone_uses_the_reminders_zone_not_utc() -> None:
    # shared/cases: saved without a zone, patient in Los Angeles; 00:30 there is 08:30 UTC,
    # inside a UTC window: the old default sent the SMS at 00:30 local. 47 CFR 64.1200(c)(1).
    decision = policy.decide(
        "reminder", recipient(time_zone=None), LA_MIDNIGHT_30, reminder_zone="America/Los_Angeles"
    )
    assert isinstance(decision, Defer)
    assert decision.until == datetime(2027, 3, 10, 8, tzinfo=ZoneInfo("America/Los_Angeles"))
    assert "America/Los_Angeles (the reminder's zone" in decision.reason


def test_recipients_own_zone_wins_over_the_reminders() -> None:
    decision = policy.decide("reminder", recipient(), NOON_NY, reminder_zone="Asia/Tokyo")
    assert isinstance(decision, Send) and "America/New_York" in decision.reason


def test_no_zone_anywhere_is_not_sent_rather_than_guessed() -> None:
    decision = policy.decide("reminder", recipient(time_zone=None), NOON_NY)
    assert isinstance(decision, Suppress) and "no time zone" in decision.reason
