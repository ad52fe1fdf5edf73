"""Patient and care-team message texts: pure rendering, no diagnosis words, SMS in one segment.

Texts name a neutral clinic, the kind of appointment ("imaging appointment", "blood test",
"clinic visit", "a quick check-in question") and a call-back number; never a diagnosis, a
result or "cancer"/"oncology" (DESIGN.md decision 7, DOMAIN.md §5). Every SMS body stays in the
GSM-7 alphabet and within 160 characters, so it is one segment (UCS-2 would allow only 70).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date
from typing import Literal

from models.outputs import AlertKind, CareTeamAlert, Category, CheckinReason, ReminderKind
from models.templates_en import ENGLISH
from models.templates_es import SPANISH
from models.templates_gsm7 import SMS_LIMIT, fold_gsm7, is_gsm7, septets
from models.templates_kinds import CHECKINS, REMINDERS, LanguagePack, MessageKind

__all__ = [
    "LANGUAGES",
    "Message",
    "MessageContext",
    "MessageKind",
    "clinic_name_problem",
    "format_date",
    "kind_for",
    "render",
    "render_care_team_alert",
]

LANGUAGES: dict[str, LanguagePack] = {"en": ENGLISH, "es": SPANISH}
DEFAULT_LANGUAGE = "en"

# What a one-segment SMS leaves room for (see tests/unit/test_templates.py).
MAX_CLINIC_NAME = 30
MAX_PORTAL_URL = 40
# Words that name a diagnosis or its treatment, in English and Spanish, matched without accents
# or case anywhere in a clinic name: "Valley Cancer Center" would put a diagnosis into every
# SMS, subject line and sender id (HIPAA minimum necessary; DOMAIN.md section 5).
DIAGNOSIS_WORDS = (
    "cancer",
    "oncolog",  # oncology, oncologia, oncologic, oncologico
    "onkolog",
    "tumor",  # tumor, tumour, tumores
    "tumour",
    "carcinom",
    "sarcom",
    "melanom",
    "lymphom",
    "linfom",
    "leukemi",
    "leukaemi",
    "leucemi",
    "myelom",
    "mielom",
    "metasta",
    "chemo",
    "quimio",
    "radioterap",
    "neoplas",
)
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{5,13}[0-9]$")  # at most 15 characters
_URL = re.compile(r"^[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+$")  # RFC 3986 characters


def kind_for(
    category: Category, kind: ReminderKind, checkin_reason: CheckinReason | None = None
) -> MessageKind:
    """The message for a reminder. A check-in (by category or kind) without a reason is periodic.

    `checkin_reason` is ignored for scan, lab and visit reminders.
    """
    if category is Category.CHECKIN or kind is ReminderKind.CHECKIN:
        return CHECKINS[checkin_reason or CheckinReason.PERIODIC]
    return REMINDERS[(category, kind)]


@dataclass(frozen=True)
class MessageContext:
    """What a message may say about the sender and the appointment; validated to fit one SMS.

    `clinic_name` <= 30 characters (use the short, neutral name), `callback_number` 7-15
    characters of digits, spaces, "+", "-", ".", "()", `portal_url` <= 40 URL characters, `due` the
    date a reminder names (due date, or the missed due date for an overdue reminder),
    `checkin_link` the URL of a check-in e-mail's answer page (else it asks for a call).
    """

    clinic_name: str
    callback_number: str
    portal_url: str | None = None
    due: date | None = None
    checkin_link: str | None = None  # the signed one-question page for this check-in e-mail

    def __post_init__(self) -> None:
        name = self.clinic_name
        problem = clinic_name_problem(name)
        if problem is not None:
            raise ValueError(problem)
        if not _PHONE.match(self.callback_number):
            raise ValueError(f"callback_number {self.callback_number!r} is not a phone number")
        url = self.portal_url
        if url is not None and (len(url) > MAX_PORTAL_URL or not _URL.match(url)):
            raise ValueError(f"portal_url must be a URL of at most {MAX_PORTAL_URL} characters")


def clinic_name_problem(name: str) -> str | None:
    """Why `name` cannot be the clinic name patient messages carry, or None if it can.

    1-30 printable characters, and no word naming a diagnosis or its treatment in English or
    Spanish ("Cancer", "Oncology", "Tumor", "Cáncer", "Oncología"...).
    """
    if not name.strip() or len(name) > MAX_CLINIC_NAME or not name.isprintable():
        return f"clinic_name must be 1-{MAX_CLINIC_NAME} printable characters"
    folded = "".join(
        ch for ch in unicodedata.normalize("NFKD", name.casefold()) if not unicodedata.combining(ch)
    )
    found = [word for word in DIAGNOSIS_WORDS if word in folded]
    if found:
        return (
            f"clinic_name {name!r} names a diagnosis or its treatment ({found[0]!r}); messages "
            "must not disclose one: use a neutral name"
        )
    return None


@dataclass(frozen=True)
class Message:
    """A rendered message: `subject` is for email (an SMS ignores it), `body` the text."""

    subject: str
    body: str


def language_pack(language: str) -> LanguagePack:
    """The texts for `language` ("es", "es-MX", "ES"); an unknown language falls back to English."""
    primary = language.split("-")[0].split("_")[0].lower()
    return LANGUAGES.get(primary, LANGUAGES[DEFAULT_LANGUAGE])


def format_date(day: date, language: str) -> str:
    """A calendar date in words: "March 3, 2027" (en), "3 de marzo de 2027" (es)."""
    pack = language_pack(language)
    return pack.date_pattern.format(day=day.day, month=pack.months[day.month - 1], year=day.year)


def render(
    kind: MessageKind,
    language: str,
    channel: Literal["sms", "email"],
    context: MessageContext,
) -> Message:
    """Render one patient message; unknown languages fall back to English.

    SMS: the clinic name is folded to GSM-7 ("Clínica" -> "Clinica") and the portal link is
    left out when it would push the body past 160 characters; the result is one GSM-7 segment.
    """
    pack = language_pack(language)
    sms = channel == "sms"
    clinic = fold_gsm7(context.clinic_name) if sms else context.clinic_name
    when = ""
    if context.due is not None and kind in pack.when:
        when = pack.when[kind].format(date=format_date(context.due, language))
    phone = context.callback_number
    answer = (
        pack.answer_link.format(link=context.checkin_link)
        if context.checkin_link
        else pack.answer_call.format(phone=phone)
    )
    values = {"clinic": clinic, "phone": phone, "when": when, "stop": pack.stop, "answer": answer}
    subject = pack.subject[kind].format(**values)
    template = pack.sms[kind] if sms else pack.email[kind]
    portal = pack.portal_sms if sms else pack.portal_email
    body = template.format(**values, portal="")
    if context.portal_url is not None:
        with_portal = template.format(**values, portal=portal.format(url=context.portal_url))
        if not sms or (is_gsm7(with_portal) and septets(with_portal) <= SMS_LIMIT):
            body = with_portal
    return Message(subject=subject, body=body)


_ALERT_TITLES = {
    AlertKind.OVERDUE: "Surveillance item overdue",
    AlertKind.HIGH_FEAR: "High check-in score",
    AlertKind.SELF_HARM: "Reply may mention self-harm: contact the patient now",
    AlertKind.LOST_TO_FOLLOW_UP: "Patient may be lost to follow-up",
    AlertKind.DELIVERY_FAILED: "Patient message could not be delivered",
    AlertKind.MOLECULAR_RELAPSE: "Result needs review: residual disease test turned positive",
    AlertKind.NO_PROTOCOL: "Enrolled with no surveillance protocol",
    AlertKind.UNMAPPED_RESULT: "Lab result with a code no surveillance item knows",
    AlertKind.UNMATCHED_EVENTS: "Events could not be matched to an enrolment",
}


def render_care_team_alert(alert: CareTeamAlert) -> Message:
    """A care-team alert for staff, in English, times in UTC.

    Names the pseudonymous patient id, the alert kind, the item code and the respond-by time;
    never contact details (the core does not have them).
    """
    respond_by = alert.respond_by.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    raised = alert.raised_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    title = _ALERT_TITLES[alert.kind]
    lines = [
        f"{title}.",
        "",
        f"Patient: {alert.patient_id}",
        f"Alert: {alert.kind.value} ({alert.severity.value})",
        *([f"Item: {alert.item}"] if alert.item else []),
        f"Reason: {alert.reason}",
        f"Raised: {raised}",
        f"Respond by: {respond_by}",
        f"Alert id: {alert.alert_id}",
    ]
    subject = f"[{alert.severity.value}] {title}: respond by {respond_by}"
    return Message(subject=subject, body="\n".join(lines))
