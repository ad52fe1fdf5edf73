"""What an inbound SMS asks for: opt-out, help, a check-in score, or nothing we act on. Pure.

Self-harm words: a short, deliberately broad list (English and Spanish). A false positive
costs a crisis-resources text and a care-team call; a miss could cost far more. Matching is
on lower-cased text with runs of whitespace folded; extend the list here, with a test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

OPT_OUT_WORDS = frozenset({"STOP", "QUIT", "END", "REVOKE", "OPT OUT", "CANCEL", "UNSUBSCRIBE"})
HELP_WORDS = frozenset({"HELP"})
OPT_IN_WORDS = frozenset({"START", "UNSTOP"})  # the opt-out confirmation tells people so
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
_SCORE = re.compile(r"(?<![\d.,])(\d{1,2})(?![\d.,]\d)")

IntentKind = Literal["opt_out", "opt_in", "help", "checkin", "unrecognised"]


@dataclass(frozen=True)
class Intent:
    kind: IntentKind
    score: int | None = None
    free_text: bool = False
    self_harm: bool = False


def mentions_self_harm(text: str) -> bool:
    lowered = " ".join(text.lower().split())
    return any(word in lowered for word in SELF_HARM_WORDS)


def classify(body: str) -> Intent:
    """Keywords are matched whole, case-insensitive, trimmed (trailing '.' or '!' allowed)."""
    text = " ".join(body.split())
    keyword = text.upper().rstrip(".!")
    if keyword in OPT_OUT_WORDS:
        return Intent("opt_out")
    if keyword in OPT_IN_WORDS:
        return Intent("opt_in")
    if keyword in HELP_WORDS:
        return Intent("help")
    self_harm = mentions_self_harm(text)
    match = _SCORE.search(text)
    score = int(match.group(1)) if match and int(match.group(1)) <= 10 else None
    if score is None and not self_harm:
        return Intent("unrecognised")
    rest = text if score is None else (text[: match.start()] + text[match.end() :])  # type: ignore[union-attr]
    free_text = bool(rest.strip(" .!?"))
    return Intent("checkin", score=score, free_text=free_text, self_harm=self_harm)
