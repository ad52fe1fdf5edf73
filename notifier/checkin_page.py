"""The one-question check-in page a check-in e-mail links to: FCR-1r 0-10 and a free-text box.

GET `/checkin/{token}` shows the form in the recipient's language; POST stores the answer down
the same path as an SMS reply (`InboundHandler.handle_web`): the same `CheckinAnswered` event,
the free text read by the same self-harm detection, which raises the self-harm path at once.
A forged or malformed link is 404, an expired one 410, an answered one 409, a bad form 422, a
body over `MAX_FORM_BYTES` 413. Pages name the clinic and its number, never a diagnosis; the
token is the only thing in the URL and the page asks browsers not to pass it on (no-referrer).
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from fastapi.responses import HTMLResponse

from notifier.checkin_links import CheckinLinks, LinkRefused
from notifier.inbound import InboundHandler
from notifier.inbox import SqlInbox
from notifier.messages import language_pack_code
from notifier.recipient_store import SqlRecipients
from notifier.replies import mentions_self_harm

MAX_FORM_BYTES = 8 * 1024  # a score and at most MAX_TEXT characters, form-encoded
MAX_TEXT = 1600  # as long as the longest SMS reply

_TEXTS = {
    "en": {
        "title": "A quick question from {clinic}",
        "question": (
            "How much do you worry that a health problem you were treated for will come back?"
        ),
        "low": "0 = not at all",
        "high": "10 = a lot",
        "comment": "Anything you would like to tell us? (optional)",
        "send": "Send",
        "call": "If you would like to talk to someone, call us at {phone}.",
        "thanks": "Thank you for your answer.",
        "support": "Thank you. Someone from your care team will contact you soon.",
        "invalid": "Please choose a number from 0 to 10, or write a few words.",
    },
    "es": {
        "title": "Una pregunta rápida de {clinic}",
        "question": (
            "¿Cuánto le preocupa que vuelva un problema de salud por el que recibió tratamiento?"
        ),
        "low": "0 = nada",
        "high": "10 = muchísimo",
        "comment": "¿Quiere contarnos algo más? (opcional)",
        "send": "Enviar",
        "call": "Si desea hablar con alguien, llámenos al {phone}.",
        "thanks": "Gracias por su respuesta.",
        "support": (
            "Gracias. Alguien de su equipo de atención se pondrá en contacto con usted pronto."
        ),
        "invalid": "Elija un número del 0 al 10 o escriba unas palabras.",
    },
}
# The recipient is not known (or not to be trusted) on these: both languages.
_REFUSED = {
    "malformed": (404, "This link is not valid. / Este enlace no es válido."),
    "forged": (404, "This link is not valid. / Este enlace no es válido."),
    "unknown": (404, "This link is not valid. / Este enlace no es válido."),
    "expired": (410, "This link has expired. / Este enlace ha caducado."),
    "answered": (
        409,
        "This question has already been answered, thank you. / "
        "Esta pregunta ya tiene respuesta, gracias.",
    ),
    "too_large": (413, "Your answer is too long. / Su respuesta es demasiado larga."),
}
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token is in the URL
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}


@dataclass
class CheckinPage:
    links: CheckinLinks
    inbox: SqlInbox
    recipients: SqlRecipients
    inbound: InboundHandler
    clinic: str
    phone: str
    crisis_text: Callable[[str], str]  # language -> the crisis-resources text (configured)
    wall_clock: Callable[[], float]

    def _page(self, language: str, body: str, status: int = 200) -> HTMLResponse:
        t = _TEXTS[language]
        title = html.escape(t["title"].format(clinic=self.clinic))
        document = (
            f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title></head><body><h1>{title}</h1>{body}"
            f"<p>{html.escape(t['call'].format(phone=self.phone))}</p></body></html>"
        )
        return HTMLResponse(document, status_code=status, headers=_HEADERS)

    def refused(self, why: str) -> HTMLResponse:
        status, text = _REFUSED[why]
        return HTMLResponse(
            f'<!doctype html><html><head><meta charset="utf-8"><title>{status}</title></head>'
            f"<body><p>{html.escape(text)}</p><p>{html.escape(self.phone)}</p></body></html>",
            status_code=status,
            headers=_HEADERS,
        )

    async def _open(self, token: str) -> tuple[str, str, str] | str:
        """(reminder id, patient id, language), or why the link is refused."""
        try:
            reminder_id = self.links.verify(token, self.wall_clock())
        except LinkRefused as refused:
            return refused.reason
        patient_id = await asyncio.to_thread(self.inbox.sent_checkin, reminder_id)
        if patient_id is None:
            return "unknown"
        if await asyncio.to_thread(self.inbox.seen, f"web-{reminder_id}") is not None:
            return "answered"
        recipient = await asyncio.to_thread(self.recipients.get, patient_id)
        if recipient is None:
            return "unknown"
        return reminder_id, patient_id, language_pack_code(recipient.language)

    def _form(self, language: str, token: str, problem: str | None = None) -> str:
        t = _TEXTS[language]
        choices = "".join(
            f'<label><input type="radio" name="score" value="{n}"> {n}</label> ' for n in range(11)
        )
        warning = f'<p role="alert">{html.escape(problem)}</p>' if problem else ""
        return (
            f'{warning}<form method="post" action="/checkin/{html.escape(token)}">'
            f"<fieldset><legend>{html.escape(t['question'])}</legend>"
            f"<p>{html.escape(t['low'])} &middot; {html.escape(t['high'])}</p>{choices}</fieldset>"
            f'<p><label for="comment">{html.escape(t["comment"])}</label><br>'
            f'<textarea id="comment" name="comment" rows="4" cols="40" '
            f'maxlength="{MAX_TEXT}"></textarea></p>'
            f'<p><button type="submit">{html.escape(t["send"])}</button></p></form>'
        )

    async def show(self, token: str) -> HTMLResponse:
        opened = await self._open(token)
        if isinstance(opened, str):
            return self.refused(opened)
        _, _, language = opened
        return self._page(language, self._form(language, token))

    async def answer(self, token: str, raw: bytes | None) -> HTMLResponse:
        opened = await self._open(token)
        if isinstance(opened, str):
            return self.refused(opened)
        if raw is None:
            return self.refused("too_large")
        reminder_id, patient_id, language = opened
        fields = parse_qs(raw.decode("utf-8", "replace"), max_num_fields=4)
        score_field = (fields.get("score") or [""])[0].strip()
        comment = (fields.get("comment") or [""])[0].strip()
        score_ok = score_field == "" or (score_field.isdigit() and 0 <= int(score_field) <= 10)
        if not score_ok or len(comment) > MAX_TEXT or not (score_field or comment):
            invalid = _TEXTS[language]["invalid"]
            return self._page(language, self._form(language, token, invalid), 422)
        score = int(score_field) if score_field else None
        outcome = await self.inbound.handle_web(reminder_id, patient_id, score, comment)
        if outcome.status == 409:
            return self.refused("answered")
        t = _TEXTS[language]
        parts = [t["support"] if (score or 0) >= 5 else t["thanks"]]
        if mentions_self_harm(comment):
            parts.append(self.crisis_text(language))
        body = "".join(f"<p>{html.escape(p)}</p>".replace("\n", "<br>") for p in parts)
        return self._page(language, body)
