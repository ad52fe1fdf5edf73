"""`MessageRenderer`: picks and renders the text for a reminder, a reply or a care-team alert."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from models.outputs import CareTeamAlert, CheckinReason, Reminder
from models.templates import (
    Message,
    MessageContext,
    MessageKind,
    kind_for,
    render,
    render_care_team_alert,
)


def checkin_reason_from(reason_text: str) -> CheckinReason:
    """Reminder has no `checkin_reason` field: read it from the free `reason`, else periodic."""
    lowered = reason_text.lower().replace("-", "_").replace(" ", "_")
    for candidate in (CheckinReason.PRE_SCAN, CheckinReason.RESULT_PENDING):
        if candidate.value in lowered:
            return candidate
    return CheckinReason.PERIODIC


class MessageRenderer:
    def __init__(self, context: MessageContext) -> None:
        self.context = context

    def for_reminder(
        self, reminder: Reminder, language: str, channel: Literal["sms", "email"]
    ) -> Message:
        kind = kind_for(reminder.category, reminder.kind, checkin_reason_from(reminder.reason))
        due = None if kind.value.startswith("checkin") else reminder.due
        return render(kind, language, channel, replace(self.context, due=due))

    def for_reply(self, kind: MessageKind, language: str) -> Message:
        return render(kind, language, "sms", self.context)

    @staticmethod
    def for_alert(alert: CareTeamAlert) -> Message:
        return render_care_team_alert(alert)
