"""What an inbound SMS asks for, as people write it, in English and Spanish. Pure.

Order of reading (the first that applies wins, except self-harm, which is always flagged):

1. Opt-out, by any reasonable wording (47 CFR 64.1200(a)(10), FCC 24-24, in force 11 April
   2025): the carrier keywords (CTIA Messaging Principles and Best Practices, 2023: STOP,
   STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT; the FCC adds REVOKE, OPTOUT) and their Spanish
   counterparts (ALTO, PARAR, PARE, CANCELAR, BAJA, ...), alone or with a courtesy word ("stop
   please", "alto por favor"), or a phrase that asks for no more messages ("no more texts",
   "please stop texting me", "no me manden más mensajes"). Case, accents and punctuation are
   ignored. A reply that means opt-out is never scored.
2. Opt-in (START, UNSTOP, and Spanish equivalents) and HELP (AYUDA, INFO), as whole replies.
3. A check-in score: recorded only when the reply holds exactly one number and it is a whole
   number 0-10 that is not a quantity (`in 3 days`, `3pm`, `3rd`, `7.5`, `7/8`). "8/10" and
   "8 out of 10" are 8. A number word is read only when it is the whole answer ("eight",
   "I'd say ocho"). Anything else with numbers in it is `ambiguous`: kept unscored, and the
   patient is asked once for a single number.

Self-harm words: a short, deliberately broad list (English and Spanish). A false positive
costs a crisis-resources text and a care-team call; a miss could cost far more. Matching is
on lower-cased text with runs of whitespace folded; extend the list here, with a test.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

# Whole-reply keywords, after `normalise` (lower case, no accents, punctuation as spaces).
OPT_OUT_WORDS = frozenset(
    {
        "stop", "stopall", "stop all", "unsubscribe", "cancel", "end", "quit", "revoke",
        "optout", "opt out", "remove", "remove me", "unsub",
        # Spanish
        "alto", "parar", "pare", "paren", "para", "cancelar", "cancela", "baja", "darme de baja",
        "dar de baja", "detener", "basta", "fin", "terminar", "salir", "no mas", "anular",
    }
)  # fmt: skip
# Keywords that revoke also as a reply's first word ("STOP, I'm confused"); not "end", "para",
# "fin" or "cancel", which begin ordinary sentences ("End of treatment was hard").
LEADING_OPT_OUT_WORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "optout", "unsub", "alto", "parar", "basta"}
)
HELP_WORDS = frozenset({"help", "info", "ayuda", "ayudame", "informacion", "auxilio"})
OPT_IN_WORDS = frozenset({"start", "unstop", "yes start", "inicio", "iniciar", "comenzar"})

# Words that may come with a keyword without changing what it means.
COURTESY = frozenset(
    {
        "please", "pls", "plz", "now", "thanks", "thank", "you", "thx", "ok", "okay", "just",
        "por", "favor", "gracias", "ya", "ahora", "si", "yes",
    }
)  # fmt: skip

_OPT_OUT_PHRASES = tuple(
    re.compile(pattern)
    for pattern in (
        # English: asking for the messages to end
        r"\b(stop|quit|cease|end)\s+(all\s+)?(the\s+|these\s+|your\s+|this\s+)?"
        r"(text|texts|texting|message|messages|messaging|sms|reminders?|contacting me)\b",
        r"\b(stop|quit)\s+(sending|texting|messaging|contacting)\b",
        r"\bno\s+more\s+(texts?|messages?|sms|reminders?|contact)\b",
        r"\b(do\s+not|dont|don t|never)\s+(text|message|contact|sms)\s+me\b",
        r"\b(remove|take)\s+me\s+(off|from)\b",
        r"\bopt\s+me\s+out\b",
        r"\bunsubscribe\b",
        r"\bstop\s+(it\s+)?(please|now)\b",
        r"\bplease\s+stop\b",
        r"\bi\s+(want|wish|would like)\s+to\s+(stop|opt\s+out|unsubscribe)\b",
        # Spanish: "no me manden más", "dejen de enviar", "darme de baja", ...
        r"\bno\s+(me\s+)?(envien|manden|mande|envie|escriban|contacten|mensajeen)\s+mas\b",
        r"\bno\s+mas\s+(mensajes|textos|sms|recordatorios)\b",
        r"\b(dejen|deje|dejar)\s+de\s+(enviar|mandar|escribir|contactar)",
        r"\bdar(me)?\s+de\s+baja\b",
        r"\b(quitenme|quiteme|borrenme|borreme|saquenme|sacame)\b",
        r"\bya\s+no\s+quiero\s+(recibir|mas|mensajes|textos)\b",
        r"\bno\s+quiero\s+(recibir|mas)\s+(mensajes|textos|sms|recordatorios)\b",
        r"\b(alto|pare|paren|parar)\s+(por\s+favor|ya)\b",
    )
)

SELF_HARM_WORDS = (
    "suicide",
    "suicidal",
    "kill myself",
    "end my life",
    "end it all",
    "take my life",
    "self harm",
    "self-harm",
    "hurt myself",
    "want to die",
    "better off dead",
    "no reason to live",
    "suicid",  # es: suicidio, suicidarme
    "matarme",
    "quitarme la vida",
    "hacerme daño",
    "quiero morir",
)

_NUMBER_WORDS = {
    "zero": 0, "cero": 0, "one": 1, "uno": 1, "una": 1, "two": 2, "dos": 2, "three": 3,
    "tres": 3, "four": 4, "cuatro": 4, "five": 5, "cinco": 5, "six": 6, "seis": 6, "seven": 7,
    "siete": 7, "eight": 8, "ocho": 8, "nine": 9, "nueve": 9, "ten": 10, "diez": 10,
}  # fmt: skip
# Lead-ins that may come before a lone number word: "I'd say eight", "un ocho", "es un 7".
_LEAD_INS = frozenset(
    {
        "i", "d", "id", "would", "say", "its", "it", "s", "is", "a", "an", "my", "score",
        "answer", "about", "today", "un", "es", "mi", "respuesta", "diria", "yo", "le", "doy",
        "pongo", "puntuacion", "como", "numero", "number", "out", "of", "de", "sobre",
    }
)  # fmt: skip
# A number followed by one of these is a quantity, a time or a date, not a score.
_UNITS = (
    r"(st|nd|rd|th|am|pm|a\s*m|p\s*m|h|hrs?|hours?|mins?|minutes?|days?|weeks?|wks?|months?|"
    r"years?|yrs?|times|x|mg|ml|kg|lbs?|pounds?|%|percent|o\s*clock|"
    r"dias?|semanas?|mes|meses|anos?|horas?|minutos?|veces|de\s+la\s+(manana|tarde|noche))"
)
_QUANTITY = re.compile(r"\d+\s*" + _UNITS + r"\b")
_BEFORE_NUMBER = re.compile(r"\b(in|on|at|en|el|a\s+las|las|the|since|for|hace|por|after)\s+\d")
_OUT_OF_TEN = re.compile(r"(\d+)\s*(/|out\s+of|de|sobre|over)\s*10\b")
_NUMBER = re.compile(r"-?\d+(?:[.,:/-]\d+)*")
_TOKEN = re.compile(r"(?<![a-z0-9])-?\d+(?:[.,:/-]\d+)*%?|[a-z0-9]+")

IntentKind = Literal["opt_out", "opt_in", "help", "checkin", "ambiguous", "unrecognised"]


@dataclass(frozen=True)
class Intent:
    kind: IntentKind
    score: int | None = None
    free_text: bool = False
    self_harm: bool = False


def normalise(text: str) -> str:
    """Lower case, accents removed, every run of non-alphanumerics but `/ . , : -` between
    digits made one space. "¡PARE, por favor!" -> "pare por favor"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # numbers keep their inner punctuation (7.5, 3/15, 10:30, 7-8) and a minus sign
    return " ".join(_TOKEN.findall(plain))


def mentions_self_harm(text: str) -> bool:
    lowered = " ".join(text.lower().split())
    if any(word in lowered for word in SELF_HARM_WORDS):
        return True
    plain = normalise(text)  # also without accents and punctuation
    return any(normalise(word) in plain for word in SELF_HARM_WORDS)


def _without_courtesy(words: list[str]) -> str:
    return " ".join(word for word in words if word not in COURTESY)


def is_opt_out(plain: str) -> bool:
    core = _without_courtesy(plain.split())
    if plain in OPT_OUT_WORDS or core in OPT_OUT_WORDS:
        return True
    if plain.split(" ", 1)[0] in LEADING_OPT_OUT_WORDS:
        return True
    return any(phrase.search(plain) for phrase in _OPT_OUT_PHRASES)


def _score(plain: str) -> tuple[int | None, bool, bool]:
    """(score, ambiguous, rest): the one score in `plain`; ambiguous when numbers are there
    but not exactly one usable score; rest: whether there is more than the score."""
    words = plain.split()
    if words and all(w in _LEAD_INS for w in words[:-1]) and words[-1] in _NUMBER_WORDS:
        return _NUMBER_WORDS[words[-1]], False, False
    text = _OUT_OF_TEN.sub(r"\1", plain)  # "8/10", "8 out of 10", "8 de 10" -> "8"
    numbers = _NUMBER.findall(text)
    if not numbers:
        return None, False, False
    if len(numbers) > 1 or _QUANTITY.search(text) or _BEFORE_NUMBER.search(text):
        return None, True, True
    (number,) = numbers
    if not number.isdigit() or int(number) > 10:
        return None, True, True
    rest = [w for w in text.split() if w != number and w not in _LEAD_INS]
    return int(number), False, bool(rest)


def classify(body: str) -> Intent:
    """What one reply asks for; see the module's docstring for the order of reading."""
    plain = normalise(body)
    self_harm = mentions_self_harm(body)
    if is_opt_out(plain):
        return Intent("opt_out", self_harm=self_harm)
    core = _without_courtesy(plain.split())
    if not self_harm and (plain in OPT_IN_WORDS or core in OPT_IN_WORDS):
        return Intent("opt_in")
    if not self_harm and (plain in HELP_WORDS or core in HELP_WORDS):
        return Intent("help")
    score, ambiguous, rest = _score(plain)
    if ambiguous:
        return Intent("ambiguous", free_text=True, self_harm=self_harm)
    if score is None and not self_harm:
        return Intent("unrecognised")
    free_text = rest if score is not None else bool(plain)
    return Intent("checkin", score=score, free_text=free_text, self_harm=self_harm)
