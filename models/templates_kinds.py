"""The patient messages the platform sends, and the shape of one language's texts for them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from models.outputs import Category, CheckinReason, ReminderKind


class MessageKind(StrEnum):
    """One value per patient message: reminders, check-ins and the notifier's own replies."""

    SCAN_DUE = "scan_due"
    SCAN_OVERDUE = "scan_overdue"
    LAB_DUE = "lab_due"
    LAB_OVERDUE = "lab_overdue"
    VISIT_DUE = "visit_due"
    VISIT_OVERDUE = "visit_overdue"
    CHECKIN_PRE_SCAN = "checkin_pre_scan"
    CHECKIN_RESULT_PENDING = "checkin_result_pending"
    CHECKIN_PERIODIC = "checkin_periodic"
    OPT_OUT_CONFIRMATION = "opt_out_confirmation"
    HELP = "help"
    CHECKIN_THANKS = "checkin_thanks"
    CHECKIN_SUPPORT = "checkin_support"
    CRISIS_RESOURCES = "crisis_resources"
    CHECKIN_ASK_NUMBER = "checkin_ask_number"  # an answer with no single 0-10 number in it


REMINDERS: Mapping[tuple[Category, ReminderKind], MessageKind] = {
    (Category.SCAN, ReminderKind.DUE): MessageKind.SCAN_DUE,
    (Category.SCAN, ReminderKind.OVERDUE): MessageKind.SCAN_OVERDUE,
    (Category.LAB, ReminderKind.DUE): MessageKind.LAB_DUE,
    (Category.LAB, ReminderKind.OVERDUE): MessageKind.LAB_OVERDUE,
    (Category.VISIT, ReminderKind.DUE): MessageKind.VISIT_DUE,
    (Category.VISIT, ReminderKind.OVERDUE): MessageKind.VISIT_OVERDUE,
}

CHECKINS: Mapping[CheckinReason, MessageKind] = {
    CheckinReason.PRE_SCAN: MessageKind.CHECKIN_PRE_SCAN,
    CheckinReason.RESULT_PENDING: MessageKind.CHECKIN_RESULT_PENDING,
    CheckinReason.PERIODIC: MessageKind.CHECKIN_PERIODIC,
}


@dataclass(frozen=True)
class LanguagePack:
    """Every text of one language, as `str.format` templates.

    Placeholders: {clinic}, {phone}, {when} (reminders: the `when` fragment, or "" without a
    date), {portal} (the `portal_*` fragment, or ""), {answer} (check-in e-mails: `answer_link` or
    `answer_call`), {stop} (SMS: the opt-out line). SMS
    templates must stay in the GSM-7 basic set; emails may use the full alphabet.
    """

    months: tuple[str, ...]  # January..December
    date_pattern: str  # placeholders {day}, {month}, {year}
    sms: Mapping[MessageKind, str]
    subject: Mapping[MessageKind, str]
    email: Mapping[MessageKind, str]
    when: Mapping[MessageKind, str]  # reminders only; placeholder {date}
    stop: str
    portal_sms: str  # placeholder {url}
    portal_email: str  # placeholder {url}
    # Check-in e-mails: how to answer ({answer} in the body). With a signed link to the
    # notifier's one-question page (placeholder {link}); without one, by phone ({phone}).
    # Nothing reads e-mail replies, so no text asks for one.
    answer_link: str
    answer_call: str
