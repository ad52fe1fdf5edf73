"""Inbound SMS classification as people write replies, in English and Spanish.

Sources: 47 CFR 64.1200(a)(10) (FCC 24-24, in force 11 April 2025): revocation "by any
reasonable means", including the words STOP, QUIT, END, REVOKE, OPT OUT, CANCEL, UNSUBSCRIBE;
CTIA Messaging Principles and Best Practices (2023): STOP, STOPALL, UNSUBSCRIBE, CANCEL, END,
QUIT and HELP; Spanish programmes honour ALTO, PARAR, CANCELAR, BAJA and AYUDA.
FCR-1r is one item scored 0-10 (DOMAIN.md §3): a score is recorded only when unambiguous.
"""

from __future__ import annotations

import pytest

from notifier.replies import OPT_OUT_WORDS, Intent, classify

OUT = Intent("opt_out")
HELP = Intent("help")
START = Intent("opt_in")
UNCLEAR = Intent("ambiguous", free_text=True)
NOTHING = Intent("unrecognised")


def score(value: int, free_text: bool = False) -> Intent:
    return Intent("checkin", score=value, free_text=free_text)


TABLE = [
    # opt-out, carrier and FCC keywords, any case, accents and punctuation
    ("STOP", OUT),
    ("stop", OUT),
    ("Stop.", OUT),
    ("STOP!!!", OUT),
    ("StopAll", OUT),
    ("STOP ALL", OUT),
    ("Unsubscribe", OUT),
    ("cancel", OUT),
    ("END", OUT),
    ("Quit", OUT),
    ("REVOKE", OUT),
    ("OPTOUT", OUT),
    ("opt out", OUT),
    ("Opt-out", OUT),
    # Spanish keywords
    ("ALTO", OUT),
    ("alto.", OUT),
    ("PARAR", OUT),
    ("Pare", OUT),
    ("CANCELAR", OUT),
    ("BAJA", OUT),
    ("Darme de baja", OUT),
    ("¡Basta!", OUT),
    ("No más", OUT),
    ("FIN", OUT),
    # reasonable wording (FCC: any reasonable means)
    ("Stop please", OUT),
    ("please stop", OUT),
    ("STOP, thank you", OUT),
    ("No more texts", OUT),
    ("no more messages please", OUT),
    ("Please stop texting me at work", OUT),
    ("Don't text me anymore", OUT),
    ("do not contact me", OUT),
    ("Remove me from this list", OUT),
    ("take me off your list", OUT),
    ("I want to unsubscribe", OUT),
    ("stop sending me reminders", OUT),
    ("Alto por favor", OUT),
    ("Por favor no me manden más mensajes", OUT),
    ("dejen de enviarme mensajes", OUT),
    ("Ya no quiero recibir mensajes", OUT),
    ("quítenme de la lista", OUT),
    ("no más textos", OUT),
    # help and opt-in
    ("HELP", HELP),
    (" help ", HELP),
    ("Help please", HELP),
    ("AYUDA", HELP),
    ("ayuda por favor", HELP),
    ("Información", HELP),
    ("START", START),
    ("unstop", START),
    ("Comenzar", START),
    # scores: one whole number 0-10 and nothing that makes it a quantity
    ("7", score(7)),
    (" 0 ", score(0)),
    ("10", score(10)),
    ("8/10", score(8)),
    ("6 out of 10", score(6)),
    ("5 de 10", score(5)),
    ("eight", score(8)),
    ("I'd say eight", score(8)),
    ("ocho", score(8)),
    ("Un 4", score(4)),
    ("8 - worried about the scan", score(8, free_text=True)),
    ("Feeling like a 6 today", score(6, free_text=True)),
    ("3, un poco nerviosa", score(3, free_text=True)),
    # ambiguous: kept unscored, the patient is asked once for one number
    ("My scan is in 3 days, I'd say 8", UNCLEAR),
    ("7 or 8", UNCLEAR),
    ("7-8", UNCLEAR),
    ("between 6 and 7", UNCLEAR),
    ("2.5", UNCLEAR),
    ("7,5", UNCLEAR),
    ("11", UNCLEAR),
    ("-1", UNCLEAR),
    ("Scan at 3pm", UNCLEAR),
    ("about 5 days since my scan", UNCLEAR),
    ("Mi cita es en 2 semanas", UNCLEAR),
    ("on the 3rd", UNCLEAR),
    ("10:30", UNCLEAR),
    ("entre 6 y 7", UNCLEAR),
    # not a score, not a keyword
    ("hello", NOTHING),
    ("Thanks!", NOTHING),
    ("see you soon", NOTHING),
    ("gracias", NOTHING),
    ("I need to reschedule", NOTHING),
    ("My pain does not stop", NOTHING),  # "stop" inside a sentence about something else
    ("The weekend was fine", NOTHING),
    ("Para mañana tengo cita", NOTHING),  # "para" = "for" here
    # self-harm: always flagged, whatever else the reply is
    ("9 I want to die", Intent("checkin", score=9, free_text=True, self_harm=True)),
    ("Pienso en el SUICIDIO", Intent("checkin", free_text=True, self_harm=True)),
    (
        "thinking about   hurting   myself? no. hurt myself",
        Intent("checkin", free_text=True, self_harm=True),
    ),
    ("STOP I want to kill myself", Intent("opt_out", self_harm=True)),
    ("3 days left and I want to end it all", Intent("ambiguous", free_text=True, self_harm=True)),
    ("quiero morir, ya no más", Intent("checkin", free_text=True, self_harm=True)),
    ("Stop, I'm confused", OUT),
    ("End of treatment was hard", NOTHING),
]


def test_the_table_is_large_and_covers_both_languages() -> None:
    assert len(TABLE) >= 60
    kinds = {expected.kind for _, expected in TABLE}
    assert kinds == {"opt_out", "opt_in", "help", "checkin", "ambiguous", "unrecognised"}


@pytest.mark.parametrize(("text", "expected"), TABLE)
def test_reply_as_people_write_it(text: str, expected: Intent) -> None:
    assert classify(text) == expected


@pytest.mark.parametrize("text", [t for t, e in TABLE if e.kind == "opt_out"])
def test_an_opt_out_is_never_scored(text: str) -> None:
    assert classify(text).score is None


@pytest.mark.parametrize("word", sorted(OPT_OUT_WORDS))
@pytest.mark.parametrize("shape", ["{}", "{} ", "  {}", "{}.", "lower", "upper", "{}!"])
def test_every_opt_out_word_in_any_case_revokes(word: str, shape: str) -> None:
    if shape == "lower":
        text = word.lower()
    elif shape == "upper":
        text = word.upper()
    else:
        text = shape.format(word.title())
    assert classify(text).kind == "opt_out"
