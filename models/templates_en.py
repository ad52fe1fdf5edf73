"""English texts for patient messages. SMS templates stay within GSM-7 (see templates_gsm7)."""

from __future__ import annotations

from models.outputs import Category, ReminderKind
from models.templates_kinds import CHECKINS, REMINDERS, LanguagePack, MessageKind

_WHAT = {
    Category.SCAN: "imaging appointment",
    Category.LAB: "blood test",
    Category.VISIT: "clinic visit",
}

# Our own wording of the FCR-1r single item (0-10); the licensed FCRI item texts are not used.
_QUESTION_SMS = "Do you worry a past health problem may return? Reply 0 (not at all) to 10 (a lot)."
_QUESTION_EMAIL = (
    "How much do you worry that a health problem you were treated for will come back? {answer}"
)
_CHECKIN_INTRO = {
    MessageKind.CHECKIN_PRE_SCAN: "Before your imaging appointment, a quick question.",
    MessageKind.CHECKIN_RESULT_PENDING: "While you wait to hear from us, a quick question.",
    MessageKind.CHECKIN_PERIODIC: "A quick check-in question.",
}
_FOOTER = (
    "\n\n{clinic}\n\nYou receive this message because you asked {clinic} to keep in touch "
    "about your follow-up care. To stop these messages, call us at {phone}."
)

_SMS_REMINDER = {
    ReminderKind.DUE: "{clinic}: your %s is due{when}. To book, call {phone}{portal}. {stop}",
    ReminderKind.OVERDUE: (
        "{clinic}: your %s{when} is overdue. Please call {phone} to book{portal}. {stop}"
    ),
}
_EMAIL_REMINDER = {
    ReminderKind.DUE: (
        "Hello,\n\nThis is a reminder from {clinic}: your %s is due{when}.\n\nTo book it, "
        "please call us at {phone}. If it is already booked or done, thank you, and please "
        "ignore this message.{portal}" + _FOOTER
    ),
    ReminderKind.OVERDUE: (
        "Hello,\n\nThis is a reminder from {clinic}: your %s{when} is overdue.\n\nPlease call "
        "us at {phone} to book it. If it is already done, thank you, and please ignore this "
        "message.{portal}" + _FOOTER
    ),
}
_WHEN = {ReminderKind.DUE: " by {date}", ReminderKind.OVERDUE: ", due {date},"}
_EMAIL_CHECKIN = (
    "Hello,\n\n%s "
    + _QUESTION_EMAIL
    + " If you would like to talk to someone, call us at {phone}.{portal}"
    + _FOOTER
)

_SMS = {
    MessageKind.OPT_OUT_CONFIRMATION: (
        "{clinic}: you will get no more texts from us. To start again, reply START or call {phone}."
    ),
    MessageKind.HELP: (
        "{clinic} appointment reminders, free, at most 1 a day and 3 a week. For help, call "
        "{phone}. {stop}"
    ),
    MessageKind.CHECKIN_THANKS: (
        "{clinic}: thank you for your answer. To talk to someone, call {phone}. {stop}"
    ),
    MessageKind.CHECKIN_SUPPORT: (
        "{clinic}: thank you. Someone from your care team will contact you soon. You can also "
        "call {phone}. {stop}"
    ),
    MessageKind.CRISIS_RESOURCES: (
        "{clinic}: if in danger, call 911. For support 24/7, call or text 988. We will call "
        "you too: {phone}. {stop}"
    ),
}
_SMS[MessageKind.CHECKIN_ASK_NUMBER] = (
    "{clinic}: thanks. Please reply with just one number, 0 to 10. Call {phone}. {stop}"
)
_EMAIL = {
    MessageKind.OPT_OUT_CONFIRMATION: (
        "Hello,\n\nYou will get no more text messages from {clinic}. To start again, reply "
        "START to our number or call us at {phone}.\n\n{clinic}"
    ),
    MessageKind.HELP: (
        "Hello,\n\n{clinic} sends you reminders about your follow-up appointments, free of "
        "charge, at most one a day and three a week. For help, call us at {phone}.{portal}"
        + _FOOTER
    ),
    MessageKind.CHECKIN_THANKS: (
        "Hello,\n\nThank you for your answer. If you would like to talk to someone, call us "
        "at {phone}." + _FOOTER
    ),
    MessageKind.CHECKIN_SUPPORT: (
        "Hello,\n\nThank you for telling us how you feel. Someone from your care team will be "
        "in touch with you soon. You can also call us at {phone}." + _FOOTER
    ),
    MessageKind.CHECKIN_ASK_NUMBER: (
        "Hello,\n\nThank you for your answer. To record it, we need just one number from 0 "
        "to 10: please reply to our text message with that number. If you would like to talk "
        "to someone, call us at {phone}." + _FOOTER
    ),
    MessageKind.CRISIS_RESOURCES: (
        "Hello,\n\nIf you are in danger now, call 911 or go to the nearest emergency room.\n\n"
        "To talk to someone at any time, call or text 988 (the 988 Lifeline, free and "
        "confidential).\n\nSomeone from our team will also contact you. You can "
        "reach us at {phone}." + _FOOTER
    ),
}

ENGLISH = LanguagePack(
    months=(
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    date_pattern="{month} {day}, {year}",
    sms={
        **{kind: _SMS_REMINDER[rk] % _WHAT[cat] for (cat, rk), kind in REMINDERS.items()},
        **{kind: "{clinic}, {phone}: " + _QUESTION_SMS + " {stop}" for kind in CHECKINS.values()},
        **_SMS,
    },
    subject={
        **{kind: "Reminder from {clinic}" for kind in REMINDERS.values()},
        **{kind: "A quick question from {clinic}" for kind in CHECKINS.values()},
        **{kind: "Message from {clinic}" for kind in _SMS},
    },
    email={
        **{kind: _EMAIL_REMINDER[rk] % _WHAT[cat] for (cat, rk), kind in REMINDERS.items()},
        **{kind: _EMAIL_CHECKIN % _CHECKIN_INTRO[kind] for kind in CHECKINS.values()},
        **_EMAIL,
    },
    when={kind: _WHEN[rk] for (_, rk), kind in REMINDERS.items()},
    stop="Reply STOP to opt out",
    portal_sms=" or visit {url}",
    portal_email="\n\nYou can also use our patient portal: {url}",
    answer_link=(
        "Please answer with a number from 0 (not at all) to 10 (a lot) at this link: {link}"
    ),
    answer_call=(
        "Please tell us a number from 0 (not at all) to 10 (a lot) by calling us at {phone}."
    ),
)
