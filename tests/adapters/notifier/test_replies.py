"""Inbound SMS classification: keywords, scores 0-10, free text, self-harm words."""

from __future__ import annotations

import pytest

from notifier.replies import OPT_OUT_WORDS, Intent, classify


@pytest.mark.parametrize("word", sorted(OPT_OUT_WORDS))
@pytest.mark.parametrize("shape", ["{}", "{} ", "  {}", "{}.", "lower"])
def test_every_opt_out_word_in_any_case_revokes(word: str, shape: str) -> None:
    text = word.lower() if shape == "lower" else shape.format(word.title())
    assert classify(text).kind == "opt_out"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HELP", Intent("help")),
        (" help ", Intent("help")),
        ("7", Intent("checkin", score=7)),
        (" 0 ", Intent("checkin", score=0)),
        ("10", Intent("checkin", score=10)),
        ("8 - worried about the scan", Intent("checkin", score=8, free_text=True)),
        ("11", Intent("unrecognised")),
        ("2.5", Intent("unrecognised")),
        ("please stop texting me at work", Intent("unrecognised")),
        ("hello", Intent("unrecognised")),
        ("9 I want to die", Intent("checkin", score=9, free_text=True, self_harm=True)),
        ("Pienso en el SUICIDIO", Intent("checkin", free_text=True, self_harm=True)),
        (
            "thinking about   hurting   myself? no. hurt myself",
            Intent("checkin", free_text=True, self_harm=True),
        ),
    ],
)
def test_classify(text: str, expected: Intent) -> None:
    assert classify(text) == expected
