"""The GSM-7 alphabet: which characters keep an SMS in one 160-character segment.

One character outside GSM 03.38 switches the whole message to UCS-2, whose segments hold 70
characters, so a 160-character text would be split into three parts and billed as three.
"""

from __future__ import annotations

import unicodedata

SMS_LIMIT = 160  # septets in one GSM-7 segment

# GSM 03.38 basic character set (ESC at 0x1B excluded: it introduces the extension table).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: allowed, but each costs two septets (ESC + the character).
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")

# Look-alikes with a one-character basic equivalent, so folding keeps the length.
_LOOKALIKES = {
    "‘": "'",
    "’": "'",
    "“": '"',
    "”": '"',
    "–": "-",
    "—": "-",
    "\u00a0": " ",
    "[": "(",
    "]": ")",
    "{": "(",
    "}": ")",
    "~": "-",
    "|": "/",
    "\\": "/",
    "^": "'",
    "€": "E",
    "\f": " ",
    "\t": " ",
}


def is_gsm7(text: str) -> bool:
    """True if `text` can be sent in the GSM-7 alphabet (basic or extension table)."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def septets(text: str) -> int:
    """The GSM-7 length of `text`: extension-table characters count twice.

    Raises ValueError if `text` is not GSM-7 (it would be sent as UCS-2 instead).
    """
    if not is_gsm7(text):
        raise ValueError("text is not GSM-7")
    return sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)


def fold_gsm7(text: str) -> str:
    """Map `text` onto the GSM-7 basic set one character for one ("Clínica" -> "Clinica").

    Accented letters lose the accents GSM-7 lacks, typographic quotes and dashes become plain
    ones, extension-table characters become basic look-alikes, anything else becomes "?". The
    result has the same length as `text` and costs one septet per character.
    """
    return "".join(_fold_char(ch) for ch in text)


def _fold_char(ch: str) -> str:
    if ch in GSM7_BASIC:
        return ch
    if ch in _LOOKALIKES:
        return _LOOKALIKES[ch]
    base = unicodedata.normalize("NFKD", ch)[:1]
    return base if base in GSM7_BASIC else "?"
