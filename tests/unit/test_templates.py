"""Patient message texts: no diagnosis words, one GSM-7 SMS segment, the TCPA elements."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.outputs import AlertKind, CareTeamAlert, Category, CheckinReason, ReminderKind, Severity
from models.templates import (
    Message,
    MessageContext,
    MessageKind,
    clinic_name_problem,
    format_date,
    kind_for,
    render,
    render_care_team_alert,
)
from models.templates_gsm7 import fold_gsm7, is_gsm7, septets

BANNED = (
    "cancer",
    "oncolog",
    "tumor",
    "tumour",
    "chemo",
    "remission",
    "recurrence",
    "metasta",
    "lymphoma",
    "leukemia",
    "leukaemia",
    "carcinoma",
    "malignan",
    # Spanish (compared without accents: cáncer, oncología, remisión, metástasis, ...)
    "quimio",
    "remision",
    "recurrencia",
    "metastasis",
    "linfoma",
    "leucemia",
    "maligno",
    "maligna",
)

LANGUAGES = ("en", "es")
CHANNELS = ("sms", "email")
REMINDER_KINDS = [k for k in MessageKind if k.value.endswith(("_due", "_overdue"))]
CHECKIN_KINDS = [MessageKind(f"checkin_{reason.value}") for reason in CheckinReason]
SEND_STOP = [k for k in MessageKind if k is not MessageKind.OPT_OUT_CONFIRMATION]

CLINIC = "Northside Follow-Up Clinic 042"  # 30 characters: the longest we allow
PHONE = "+1 555 010 0199"
PORTAL = "https://portal.northside-clinic.org/msgs"  # 40 characters
LONGEST_DATE = date(2027, 9, 30)  # "September 30, 2027", "30 de septiembre de 2027"
MAXIMAL = MessageContext(CLINIC, PHONE, PORTAL, LONGEST_DATE)

WHAT = {
    "en": {"scan": "imaging appointment", "lab": "blood test", "visit": "clinic visit"},
    "es": {"scan": "estudio de imagen", "lab": "prueba de sangre", "visit": "consulta de control"},
}
STOP = {"en": "Reply STOP to opt out", "es": "Responda STOP para darse de baja"}


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _every_message() -> list[tuple[MessageKind, str, str]]:
    return [(k, lang, ch) for k in MessageKind for lang in LANGUAGES for ch in CHANNELS]


def test_assumptions_of_this_file() -> None:
    assert len(CLINIC) == 30 and len(PORTAL) == 40
    assert len(REMINDER_KINDS) == 6 and len(CHECKIN_KINDS) == 3 and len(MessageKind) == 15


@pytest.mark.parametrize(("kind", "language", "channel"), _every_message())
def test_no_diagnosis_words(kind: MessageKind, language: str, channel: str) -> None:
    message = render(kind, language, channel, MAXIMAL)  # type: ignore[arg-type]
    text = _plain(message.subject + "\n" + message.body)
    assert [word for word in BANNED if word in text] == []


@pytest.mark.parametrize("text", ["Your CÁNCER care", "Oncólogo", "remisión", "METÁSTASIS"])
def test_the_banned_word_check_catches_accented_and_upper_case(text: str) -> None:
    assert any(word in _plain(text) for word in BANNED)


@pytest.mark.parametrize("kind", list(MessageKind))
@pytest.mark.parametrize("language", LANGUAGES)
def test_sms_is_one_gsm7_segment_with_the_longest_context(kind: MessageKind, language: str) -> None:
    body = render(kind, language, "sms", MAXIMAL).body
    assert is_gsm7(body), [ch for ch in body if not is_gsm7(ch)]
    assert len(body) <= 160
    assert septets(body) <= 160


@pytest.mark.parametrize(("kind", "language", "channel"), _every_message())
def test_names_the_clinic_and_the_callback_number(
    kind: MessageKind, language: str, channel: str
) -> None:
    message = render(kind, language, channel, MAXIMAL)  # type: ignore[arg-type]
    assert CLINIC in message.body
    assert PHONE in message.body
    if channel == "email":
        assert CLINIC in message.subject


@pytest.mark.parametrize("kind", SEND_STOP)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_sms_says_how_to_opt_out(kind: MessageKind, language: str) -> None:
    assert render(kind, language, "sms", MAXIMAL).body.endswith(STOP[language])


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_opt_out_confirmation_says_how_to_opt_back_in_not_out(language: str) -> None:
    body = render(MessageKind.OPT_OUT_CONFIRMATION, language, "sms", MAXIMAL).body
    assert "START" in body
    assert "STOP" not in body


@pytest.mark.parametrize("kind", REMINDER_KINDS)
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("channel", CHANNELS)
def test_reminders_name_the_appointment_and_its_date(
    kind: MessageKind, language: str, channel: str
) -> None:
    context = MessageContext(CLINIC, PHONE, due=date(2027, 3, 3))
    message = render(kind, language, channel, context)  # type: ignore[arg-type]
    category = kind.value.split("_")[0]
    assert WHAT[language][category] in message.body
    assert {"en": "March 3, 2027", "es": "3 de marzo de 2027"}[language] in message.body


@pytest.mark.parametrize("kind", REMINDER_KINDS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_reminder_without_a_date_reads_without_one(kind: MessageKind, language: str) -> None:
    body = render(kind, language, "sms", MessageContext(CLINIC, PHONE)).body
    assert "2027" not in body and "{" not in body and "  " not in body and " ." not in body


@pytest.mark.parametrize("kind", CHECKIN_KINDS)
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("channel", CHANNELS)
def test_checkins_ask_for_a_score_from_0_to_10(
    kind: MessageKind, language: str, channel: str
) -> None:
    body = render(kind, language, channel, MAXIMAL).body  # type: ignore[arg-type]
    assert "?" in body and " 0 (" in body and " 10 (" in body


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("channel", CHANNELS)
def test_crisis_reply_points_to_emergency_services_and_988(language: str, channel: str) -> None:
    body = render(MessageKind.CRISIS_RESOURCES, language, channel, MAXIMAL).body  # type: ignore[arg-type]
    assert "911" in body and "988" in body


@pytest.mark.parametrize(
    ("day", "language", "expected"),
    [
        (date(2027, 3, 3), "en", "March 3, 2027"),
        (date(2027, 3, 3), "es", "3 de marzo de 2027"),
        (date(2026, 1, 31), "en", "January 31, 2026"),
        (date(2026, 12, 1), "es", "1 de diciembre de 2026"),
        (date(2026, 12, 1), "es-MX", "1 de diciembre de 2026"),
        (date(2026, 12, 1), "fr", "December 1, 2026"),
    ],
)
def test_dates_are_written_out_per_language(day: date, language: str, expected: str) -> None:
    assert format_date(day, language) == expected


@pytest.mark.parametrize("language", ["fr", "zz", "", "EN"])
@pytest.mark.parametrize("kind", list(MessageKind))
def test_an_unknown_language_falls_back_to_english(language: str, kind: MessageKind) -> None:
    assert render(kind, language, "sms", MAXIMAL) == render(kind, "en", "sms", MAXIMAL)


def test_a_regional_spanish_tag_gets_spanish() -> None:
    spanish = render(MessageKind.LAB_DUE, "es", "email", MAXIMAL)
    assert render(MessageKind.LAB_DUE, "es-US", "email", MAXIMAL) == spanish
    assert spanish != render(MessageKind.LAB_DUE, "en", "email", MAXIMAL)


def test_subjects_are_neutral() -> None:
    context = MessageContext("Ridgeview Clinic", PHONE)
    assert render(MessageKind.SCAN_OVERDUE, "en", "email", context).subject == (
        "Reminder from Ridgeview Clinic"
    )
    assert render(MessageKind.SCAN_DUE, "es", "email", context).subject == (
        "Recordatorio de Ridgeview Clinic"
    )


def test_the_portal_link_goes_into_an_sms_only_when_it_fits() -> None:
    short = MessageContext("Ridgeview", PHONE, "https://rv.example/p", date(2027, 3, 3))
    assert "https://rv.example/p" in render(MessageKind.LAB_DUE, "en", "sms", short).body
    assert PORTAL not in render(MessageKind.VISIT_OVERDUE, "es", "sms", MAXIMAL).body
    assert PORTAL in render(MessageKind.VISIT_OVERDUE, "es", "email", MAXIMAL).body


def test_sms_folds_the_clinic_name_to_gsm7_and_email_keeps_it() -> None:
    context = MessageContext("Clínica Santa María", PHONE)
    assert render(MessageKind.HELP, "es", "sms", context).body.startswith("Clinica Santa Maria")
    assert "Clínica Santa María" in render(MessageKind.HELP, "es", "email", context).body


@pytest.mark.parametrize(
    ("raw", "folded"),
    [("Clínica", "Clinica"), ("Señor’s", "Señor's"), ("[A]€", "(A)E"), ("诊所", "??")],
)
def test_fold_gsm7_keeps_the_length_and_the_alphabet(raw: str, folded: str) -> None:
    assert fold_gsm7(raw) == folded
    assert septets(folded) == len(raw)


def test_extension_characters_cost_two_septets() -> None:
    assert septets("a€") == 3
    with pytest.raises(ValueError):
        septets("á")


@pytest.mark.parametrize(
    "fields",
    [
        {"clinic_name": "C" * 31},
        {"clinic_name": "  "},
        {"clinic_name": "Line\nbreak"},
        {"callback_number": "call us"},
        {"callback_number": "+1 (555) 010-0199"},  # 17 characters: too long for one segment
        {"portal_url": "https://" + "p" * 33},
        {"portal_url": "https://a b"},
        {"portal_url": "https://a.example/`x`"},
    ],
)
def test_a_context_that_cannot_fit_one_sms_is_refused(fields: dict[str, str]) -> None:
    values = {"clinic_name": CLINIC, "callback_number": PHONE} | fields
    with pytest.raises(ValueError):
        MessageContext(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("category", "kind", "reason", "expected"),
    [
        (Category.SCAN, ReminderKind.DUE, None, MessageKind.SCAN_DUE),
        (Category.SCAN, ReminderKind.OVERDUE, None, MessageKind.SCAN_OVERDUE),
        (Category.LAB, ReminderKind.DUE, None, MessageKind.LAB_DUE),
        (Category.LAB, ReminderKind.OVERDUE, CheckinReason.PRE_SCAN, MessageKind.LAB_OVERDUE),
        (Category.VISIT, ReminderKind.DUE, None, MessageKind.VISIT_DUE),
        (Category.VISIT, ReminderKind.OVERDUE, None, MessageKind.VISIT_OVERDUE),
        (Category.CHECKIN, ReminderKind.CHECKIN, None, MessageKind.CHECKIN_PERIODIC),
        (
            Category.CHECKIN,
            ReminderKind.CHECKIN,
            CheckinReason.PRE_SCAN,
            MessageKind.CHECKIN_PRE_SCAN,
        ),
        (
            Category.SCAN,
            ReminderKind.CHECKIN,
            CheckinReason.RESULT_PENDING,
            MessageKind.CHECKIN_RESULT_PENDING,
        ),
        (Category.CHECKIN, ReminderKind.DUE, CheckinReason.PERIODIC, MessageKind.CHECKIN_PERIODIC),
    ],
)
def test_kind_for(
    category: Category, kind: ReminderKind, reason: CheckinReason | None, expected: MessageKind
) -> None:
    assert kind_for(category, kind, reason) is expected


_CLINIC_NAMES = st.text(min_size=1, max_size=30).filter(lambda s: clinic_name_problem(s) is None)
_PHONES = st.from_regex(r"\A\+?[0-9][0-9 ().-]{5,13}[0-9]\Z")
_URLS = st.none() | st.text(
    st.sampled_from("abcxyzABC019._~:/?#[]@!$&'()*+,;=%-"), min_size=1, max_size=40
)


@given(
    clinic=_CLINIC_NAMES,
    phone=_PHONES,
    portal=_URLS,
    due=st.none() | st.dates(),
    kind=st.sampled_from(MessageKind),
    language=st.sampled_from(LANGUAGES),
)
def test_any_valid_context_gives_one_gsm7_segment(
    clinic: str, phone: str, portal: str | None, due: date | None, kind: MessageKind, language: str
) -> None:
    body = render(kind, language, "sms", MessageContext(clinic, phone, portal, due)).body
    assert is_gsm7(body)
    assert septets(body) <= 160
    assert phone in body


def _alert(kind: AlertKind, item: str | None = "ct_chest") -> CareTeamAlert:
    raised = datetime(2027, 3, 3, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    return CareTeamAlert(
        patient_id="p-8f3a",
        alert_id="alert-0123",
        kind=kind,
        severity=Severity.HIGH,
        reason="score 8 of 10 (threshold 5)",
        item=item,
        raised_at=raised,
        respond_by=raised + timedelta(days=2),
    )


@pytest.mark.parametrize("kind", list(AlertKind))
def test_care_team_alert_names_patient_kind_item_and_deadline(kind: AlertKind) -> None:
    message = render_care_team_alert(_alert(kind))
    assert isinstance(message, Message)
    assert "p-8f3a" in message.body and kind.value in message.body and "ct_chest" in message.body
    assert "2027-03-05 14:30 UTC" in message.subject  # 09:30 at UTC-5, two days later
    assert [word for word in BANNED if word in _plain(message.subject + message.body)] == []
    assert "@" not in message.body and "+1" not in message.body


def test_care_team_alert_without_an_item_leaves_the_line_out() -> None:
    assert "Item:" not in render_care_team_alert(_alert(AlertKind.SELF_HARM, item=None)).body


# Spanish words that need a written accent and that an SMS, short of á/í/ó/ú in GSM-7, is
# tempted to write without one (RAE, Ortografía 2010: "mas" is "but", "más" is "more").
_UNACCENTED = (
    "mas",
    "rapida",
    "rapido",
    "numero",
    "telefono",
    "dia",
    "aqui",
    "tambien",
    "pagina",
    "proxima",
    "proximo",
    "codigo",
    "medico",
    "recibira",
    "comunicara",
)


@pytest.mark.parametrize("kind", list(MessageKind))
@pytest.mark.parametrize("channel", ["sms", "email"])
def test_spanish_texts_drop_no_accent_a_word_needs(kind: MessageKind, channel: str) -> None:
    text = render(kind, "es", channel, MAXIMAL)  # type: ignore[arg-type]
    words = (text.subject + " " + text.body).lower().split()
    assert not [w for w in words if w.strip(".,;:()¿?¡!") in _UNACCENTED]


def test_the_spanish_opt_out_line_is_correct_spanish_in_gsm7() -> None:
    body = render(MessageKind.HELP, "es", "sms", MAXIMAL).body
    assert body.endswith("Responda STOP para darse de baja")
    assert is_gsm7(body)


@pytest.mark.parametrize(
    "name",
    [
        "Valley Cancer Center",
        "Centro de Cáncer",
        "CANCER CARE",
        "Northside Oncology",
        "Oncología del Valle",
        "Tumor Clinic",
        "Tumour Board Clinic",
        "Hematology-Oncology",
        "Instituto de Quimioterapia",
        "Lymphoma Care",
    ],
)
def test_a_clinic_name_with_a_diagnosis_word_is_refused(name: str) -> None:
    assert clinic_name_problem(name) is not None
    with pytest.raises(ValueError, match="names a diagnosis"):
        MessageContext(name, PHONE)


@pytest.mark.parametrize("name", ["Riverside Clinic", "Clínica del Valle", CLINIC, "Dr. Vance"])
def test_a_neutral_clinic_name_is_accepted(name: str) -> None:
    assert clinic_name_problem(name) is None


def test_the_notifier_settings_refuse_a_diagnosis_in_the_clinic_name() -> None:
    from pydantic import ValidationError

    from notifier.settings import NotifierSettings

    with pytest.raises(ValidationError, match="names a diagnosis"):
        NotifierSettings(
            clinic_name="Valley Cancer Center", callback_number=PHONE, allow_dev_key=True
        )
    ok = NotifierSettings(clinic_name="Valley Clinic", callback_number=PHONE, allow_dev_key=True)
    assert ok.clinic_name == "Valley Clinic"
