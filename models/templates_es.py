"""Spanish texts for patient messages.

SMS templates avoid á, í, ó, ú (not in GSM-7; é, ñ, ü, ¿ and ¡ are) by word choice, never by
dropping an accent a word needs ("mas" is "but", "más" is "more"), so a Spanish SMS is one
160-character segment and correctly spelt. Emails use full spelling. Reviewed for orthography
against the Real Academia Española's Ortografía (2010), accents on interrogatives and
diacritical pairs (más/mas, sí/si, él/el, tú/tu, sé/se, dé/de).
"""

from __future__ import annotations

from models.outputs import Category, ReminderKind
from models.templates_kinds import CHECKINS, REMINDERS, LanguagePack, MessageKind

_WHAT = {
    Category.SCAN: "estudio de imagen",
    Category.LAB: "prueba de sangre",
    Category.VISIT: "consulta de control",
}
# Our own wording of the FCR-1r single item (0-10); the licensed FCRI item texts are not used.
_QUESTION_SMS = "¿Teme que vuelva su problema de salud? Responda 0 (nada) a 10 (mucho)."
_QUESTION_EMAIL = (
    "¿Cuánto le preocupa que vuelva un problema de salud por el que recibió tratamiento? {answer}"
)
_CHECKIN_INTRO = {
    MessageKind.CHECKIN_PRE_SCAN: "Antes de su estudio de imagen, una pregunta rápida.",
    MessageKind.CHECKIN_RESULT_PENDING: "Mientras espera noticias nuestras, una pregunta rápida.",
    MessageKind.CHECKIN_PERIODIC: "Una pregunta rápida sobre cómo se encuentra.",
}
_FOOTER = (
    "\n\n{clinic}\n\nRecibe este mensaje porque pidió a {clinic} que le recordara su "
    "seguimiento. Para dejar de recibir estos mensajes, llámenos al {phone}."
)

_SMS_REMINDER = {
    ReminderKind.DUE: "{clinic}: le toca su %s{when}. Llame al {phone}{portal}. {stop}",
    ReminderKind.OVERDUE: "{clinic}: su %s{when} sigue pendiente. Llame al {phone}{portal}. {stop}",
}
_EMAIL_REMINDER = {
    ReminderKind.DUE: (
        "Hola:\n\nLe recordamos desde {clinic} que le toca su %s{when}.\n\nPara pedir cita, "
        "llámenos al {phone}. Si ya tiene la cita o ya lo ha hecho, gracias; puede ignorar este "
        "mensaje.{portal}" + _FOOTER
    ),
    ReminderKind.OVERDUE: (
        "Hola:\n\nLe recordamos desde {clinic} que su %s{when} sigue pendiente.\n\nPara pedir "
        "cita, llámenos al {phone}. Si ya lo ha hecho, gracias; puede ignorar este "
        "mensaje.{portal}" + _FOOTER
    ),
}
_EMAIL_CHECKIN = (
    "Hola:\n\n%s "
    + _QUESTION_EMAIL
    + " Si desea hablar con alguien, llámenos al {phone}.{portal}"
    + _FOOTER
)
_WHEN = {ReminderKind.DUE: " antes del {date}", ReminderKind.OVERDUE: " del {date}"}

_SMS = {
    MessageKind.OPT_OUT_CONFIRMATION: (
        "{clinic}: ya no le enviaremos mensajes de texto. Para volver a recibirlos, responda "
        "START o llame al {phone}."
    ),
    MessageKind.HELP: (
        "{clinic}: recordatorios de citas sin costo, hasta 1 diario y 3 por semana. Ayuda: "
        "{phone}. {stop}"
    ),
    MessageKind.CHECKIN_THANKS: (
        "{clinic}: gracias por su respuesta. Si desea hablar con alguien, llame al {phone}. {stop}"
    ),
    MessageKind.CHECKIN_SUPPORT: (
        "{clinic}: gracias. Alguien de su equipo de salud le va a llamar pronto. Dudas: "
        "{phone}. {stop}"
    ),
    MessageKind.CRISIS_RESOURCES: (
        "{clinic}: si corre peligro, llame al 911. Apoyo 24/7: 988, marque 2. "
        "Le vamos a llamar: {phone}. {stop}"
    ),
}
_SMS[MessageKind.CHECKIN_ASK_NUMBER] = (
    "{clinic}: gracias. Responda solo con una cifra del 0 al 10. Dudas: {phone}. {stop}"
)
_EMAIL = {
    MessageKind.OPT_OUT_CONFIRMATION: (
        "Hola:\n\nYa no recibirá mensajes de texto de {clinic}. Para volver a recibirlos, "
        "responda START a nuestro número o llámenos al {phone}.\n\n{clinic}"
    ),
    MessageKind.HELP: (
        "Hola:\n\n{clinic} le envía recordatorios de sus citas de seguimiento, sin costo, como "
        "máximo uno al día y tres por semana. Si necesita ayuda, llámenos al {phone}.{portal}"
        + _FOOTER
    ),
    MessageKind.CHECKIN_THANKS: (
        "Hola:\n\nGracias por su respuesta. Si desea hablar con alguien, llámenos al {phone}."
        + _FOOTER
    ),
    MessageKind.CHECKIN_SUPPORT: (
        "Hola:\n\nGracias por contarnos cómo se siente. Alguien de su equipo de salud se "
        "comunicará con usted pronto. También puede llamarnos al {phone}." + _FOOTER
    ),
    MessageKind.CHECKIN_ASK_NUMBER: (
        "Hola:\n\nGracias por su respuesta. Para registrarla necesitamos un solo número del 0 "
        "al 10: responda a nuestro mensaje de texto solo con ese número. Si desea hablar con "
        "alguien, llámenos al {phone}." + _FOOTER
    ),
    MessageKind.CRISIS_RESOURCES: (
        "Hola:\n\nSi corre peligro ahora, llame al 911 o vaya a la sala de emergencias más "
        "cercana.\n\nPara hablar con alguien a cualquier hora, llame al 988 y marque 2 para "
        "español, o escriba AYUDA al 988 (Línea 988, gratuita y confidencial).\n\nAlguien de "
        "nuestro equipo también se comunicará con usted. Puede llamarnos al {phone}." + _FOOTER
    ),
}

SPANISH = LanguagePack(
    months=(
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ),
    date_pattern="{day} de {month} de {year}",
    sms={
        **{kind: _SMS_REMINDER[rk] % _WHAT[cat] for (cat, rk), kind in REMINDERS.items()},
        **{kind: "{clinic}, {phone}: " + _QUESTION_SMS + " {stop}" for kind in CHECKINS.values()},
        **_SMS,
    },
    subject={
        **{kind: "Recordatorio de {clinic}" for kind in REMINDERS.values()},
        **{kind: "Una pregunta rápida de {clinic}" for kind in CHECKINS.values()},
        **{kind: "Mensaje de {clinic}" for kind in _SMS},
    },
    email={
        **{kind: _EMAIL_REMINDER[rk] % _WHAT[cat] for (cat, rk), kind in REMINDERS.items()},
        **{kind: _EMAIL_CHECKIN % _CHECKIN_INTRO[kind] for kind in CHECKINS.values()},
        **_EMAIL,
    },
    when={kind: _WHEN[rk] for (_, rk), kind in REMINDERS.items()},
    stop="Responda STOP para darse de baja",
    portal_sms=" o visite {url}",
    portal_email="\n\nTambién puede usar nuestro portal de pacientes: {url}",
    answer_link="Responda con un número del 0 (nada) al 10 (muchísimo) en este enlace: {link}",
    answer_call="Díganos un número del 0 (nada) al 10 (muchísimo) llamándonos al {phone}.",
)
