"""`MessageRenderer`: picks and renders the text for a reminder, a reply or a care-team alert."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Literal

from models.outputs import CareTeamAlert, Reminder
from models.templates import (
    LANGUAGES,
    MAX_CLINIC_NAME,
    Message,
    MessageContext,
    MessageKind,
    kind_for,
    language_pack,
    render,
    render_care_team_alert,
)
from models.templates_gsm7 import SMS_LIMIT, fold_gsm7, is_gsm7, septets


def language_pack_code(language: str) -> str:
    """ "es-MX" -> "es": the language whose texts are used (as `language_pack` picks them)."""
    primary = language.split("-")[0].split("_")[0].lower()
    return primary if primary in LANGUAGES else "en"


# The longest clinic name and call-back number a context may hold (models/templates.py).
_LONGEST = {"clinic": "C" * MAX_CLINIC_NAME, "phone": "+1 (555) 555-55"}


def check_crisis_texts(sms: Mapping[str, str], email: Mapping[str, str]) -> None:
    """Refuse configured crisis texts that would not render: unknown language, unknown
    placeholder, an SMS that is not one GSM-7 segment with the longest clinic name and number,
    or an SMS without its opt-out line ({stop})."""
    for texts, channel in ((sms, "sms"), (email, "email")):
        for language, text in texts.items():
            if language not in LANGUAGES:
                raise ValueError(f"crisis {channel} text for {language!r}: no such language")
            try:
                body = text.format(**_LONGEST, stop=language_pack(language).stop)
            except (KeyError, IndexError, ValueError):
                raise ValueError(
                    f"crisis {channel} text ({language}): only {{clinic}}, {{phone}} and "
                    "{stop} may be used"
                ) from None
            if channel == "sms" and "{stop}" not in text:
                raise ValueError(f"crisis sms text ({language}) must end with {{stop}}")
            if channel == "sms" and not (is_gsm7(body) and septets(body) <= SMS_LIMIT):
                raise ValueError(
                    f"crisis sms text ({language}) must be GSM-7 and at most {SMS_LIMIT} "
                    "characters with the longest clinic name and number"
                )


class MessageRenderer:
    """`crisis_sms`/`crisis_email`: per language, the crisis-resources text to use instead of
    the built-in one (US numbers: 911, 988), from RW_CRISIS_SMS / RW_CRISIS_EMAIL.
    `checkin_link`: reminder id -> the signed URL of its answer page, put into check-in
    e-mails (notifier/checkin_links.py); without it they ask the patient to call."""

    def __init__(
        self,
        context: MessageContext,
        crisis_sms: Mapping[str, str] | None = None,
        crisis_email: Mapping[str, str] | None = None,
        checkin_link: Callable[[str], str] | None = None,
    ) -> None:
        self.context = context
        self.checkin_link = checkin_link
        self.crisis = {"sms": dict(crisis_sms or {}), "email": dict(crisis_email or {})}
        check_crisis_texts(self.crisis["sms"], self.crisis["email"])

    def for_reminder(
        self, reminder: Reminder, language: str, channel: Literal["sms", "email"]
    ) -> Message:
        kind = kind_for(reminder.category, reminder.kind, reminder.checkin_reason)
        checkin = kind.value.startswith("checkin")
        link = None
        if checkin and channel == "email" and self.checkin_link is not None:
            link = self.checkin_link(reminder.reminder_id)
        due = None if checkin else reminder.due
        return render(kind, language, channel, replace(self.context, due=due, checkin_link=link))

    def for_reply(
        self, kind: MessageKind, language: str, channel: Literal["sms", "email"] = "sms"
    ) -> Message:
        message = render(kind, language, channel, self.context)
        configured = self.crisis[channel].get(language_pack_code(language))
        if kind is MessageKind.CRISIS_RESOURCES and configured:
            pack = language_pack(language)
            clinic = (
                fold_gsm7(self.context.clinic_name)
                if channel == "sms"
                else (self.context.clinic_name)
            )
            body = configured.format(
                clinic=clinic, phone=self.context.callback_number, stop=pack.stop
            )
            return Message(message.subject, body)
        return message

    @staticmethod
    def for_alert(alert: CareTeamAlert) -> Message:
        return render_care_team_alert(alert)
