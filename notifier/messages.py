"""`MessageRenderer`: picks and renders the text for a reminder, a reply or a care-team alert."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from models.outputs import CareTeamAlert, Reminder
from models.templates import (
    Message,
    MessageContext,
    MessageKind,
    kind_for,
    render,
    render_care_team_alert,
)


class MessageRenderer:
    def __init__(self, context: MessageContext) -> None:
        self.context = context

    def for_reminder(
        self, reminder: Reminder, language: str, channel: Literal["sms", "email"]
    ) -> Message:
        kind = kind_for(reminder.category, reminder.kind, reminder.checkin_reason)
        due = None if kind.value.startswith("checkin") else reminder.due
        return render(kind, language, channel, replace(self.context, due=due))

    def for_reply(self, kind: MessageKind, language: str) -> Message:
        return render(kind, language, "sms", self.context)

    @staticmethod
    def for_alert(alert: CareTeamAlert) -> Message:
        return render_care_team_alert(alert)
