"""Grammars compile in PocketSphinx with dictionary words only, and normalisers map text to values."""

from __future__ import annotations

import re
from datetime import date

import pocketsphinx
import pytest

from realtime.engines import grammars as g

ALL_GRAMMARS = [
    g.yes_no_grammar(),
    g.injury_grammar(),
    g.digits_grammar(),
    g.date_grammar(),
    g.vehicle_grammar(),
    g.phrase_grammar("colours", ["red", "Dark Blue!", "green-ish"]),
]


@pytest.fixture(scope="module")
def decoder() -> pocketsphinx.Decoder:
    return pocketsphinx.Decoder(fwdflat=False)


@pytest.mark.parametrize("grammar", ALL_GRAMMARS, ids=lambda gr: gr.name)
def test_every_grammar_compiles_and_uses_only_dictionary_words(decoder, grammar) -> None:
    decoder.add_jsgf_string(f"t_{grammar.name}", grammar.jsgf)
    body = re.sub(r"<[^>]+>", " ", grammar.jsgf.split("\n", 2)[2]).replace("public", "")
    words = set(re.findall(r"[a-z']+", body))
    missing = sorted(w for w in words if decoder.lookup_word(w) is None)
    assert missing == []


def test_phrase_grammar_cleans_phrases_and_keeps_the_plain_list() -> None:
    grammar = g.phrase_grammar("colours", ["red", "Dark Blue!", "green-ish", "red"])
    assert grammar.phrases == ("red", "dark blue", "green ish")
    assert "( dark blue )" in grammar.jsgf
    with pytest.raises(ValueError):
        g.phrase_grammar("empty", ["!!"])


def test_every_grammar_accepts_the_universal_commands() -> None:
    for grammar in ALL_GRAMMARS:
        assert "( agent please )" in grammar.jsgf and "( repeat that )" in grammar.jsgf


@pytest.mark.parametrize(
    ("text", "value"),
    [("one two three", "123"), ("p a one two three four five six", "PA123456"), ("4 4 7 oh 9", "44709")],
)
def test_normalize_digits_reads_letters_and_digit_words(text: str, value: str) -> None:
    assert g.normalize_digits(text) == value


def test_policy_numbers_need_two_letters_and_six_digits() -> None:
    assert g.normalize_policy_number("my policy number is p a one two three four five six") == "PA123456"
    assert g.normalize_policy_number("p a one two three") is None
    assert g.normalize_policy_number("one two three four five six seven eight") is None


TODAY = date(2026, 3, 10)  # a Tuesday


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("march third", date(2026, 3, 3)),
        ("it happened on the third of march", date(2026, 3, 3)),
        ("march the twenty first", date(2025, 3, 21)),  # not in the future: last year
        ("december 24th", date(2025, 12, 24)),
        ("yesterday", date(2026, 3, 9)),
        ("today", TODAY),
        ("the day before yesterday", date(2026, 3, 8)),
        ("last monday", date(2026, 3, 9)),
        ("tuesday", date(2026, 3, 3)),
        ("february thirtieth", None),
        ("banana", None),
    ],
)
def test_normalize_date_resolves_spoken_dates_into_the_past(text: str, value: date | None) -> None:
    assert g.normalize_date(text, today=TODAY) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [("yes", True), ("yeah that's right", True), ("no", False), ("nope", False), ("banana", None)],
)
def test_normalize_yes_no(text: str, value: bool | None) -> None:
    assert g.normalize_yes_no(text) is value


@pytest.mark.parametrize(
    ("text", "value"),
    [("nobody was hurt", False), ("no one was injured", False), ("i was hurt", True), ("yes", True)],
)
def test_normalize_injury(text: str, value: bool) -> None:
    assert g.normalize_injury(text) is value


@pytest.mark.parametrize(
    ("text", "value"),
    [("an s u v", "suv"), ("a pickup truck", "pickup truck"), ("truck", "truck"), ("my car", "car"), ("x", None)],
)
def test_normalize_vehicle_prefers_the_longest_phrase(text: str, value: str | None) -> None:
    assert g.normalize_vehicle(text) == value


def test_commands_are_detected_inside_longer_answers() -> None:
    assert g.is_human_request("can i talk to a person")
    assert g.is_human_request("agent please")
    assert g.is_repeat_request("sorry could you repeat that")
    assert not g.is_human_request("march third")


@pytest.mark.parametrize(
    "grammar",
    [g.birth_date_grammar(extra=["support", "receptionist"]), g.day_grammar(extra=["billing", "reception"])],
    ids=lambda gr: gr.name,
)
def test_appointment_grammars_compile_with_dictionary_words_and_their_extra_phrases(decoder, grammar) -> None:
    decoder.add_jsgf_string(f"t_{grammar.name}", grammar.jsgf)
    body = re.sub(r"<[^>]+>", " ", grammar.jsgf.split("\n", 2)[2]).replace("public", "")
    assert sorted(w for w in set(re.findall(r"[a-z']+", body)) if decoder.lookup_word(w) is None) == []
    assert "( agent please )" in grammar.jsgf
    assert grammar.phrases[-1] in grammar.jsgf  # the extra phrases, e.g. "( reception )"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("july fourth nineteen eighty", date(1980, 7, 4)),
        ("my date of birth is the fourth of july nineteen eighty", date(1980, 7, 4)),
        ("november twenty third nineteen seventy five", date(1975, 11, 23)),
        ("march the first two thousand and one", date(2001, 3, 1)),
        ("may 5th 1990", date(1990, 5, 5)),
        ("june tenth twenty twenty", date(2020, 6, 10)),
        ("july fourth", None),  # no year
        ("july fourth twenty thirty", None),  # not born yet
        ("february thirtieth nineteen eighty", None),
    ],
)
def test_normalize_birth_date_needs_a_year_and_a_past_date(text: str, value: date | None) -> None:
    assert g.normalize_birth_date(text, today=TODAY) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("tomorrow", date(2026, 3, 11)),
        ("today", TODAY),
        ("the day after tomorrow", date(2026, 3, 12)),
        ("next monday", date(2026, 3, 16)),
        ("monday", date(2026, 3, 16)),
        ("how about tuesday", date(2026, 3, 17)),  # today is Tuesday: the next one
        ("march sixteenth", date(2026, 3, 16)),
        ("march third", date(2027, 3, 3)),  # passed this year
        ("the sixteenth", date(2026, 3, 16)),
        ("the fifth", date(2026, 4, 5)),
        ("banana", None),
    ],
)
def test_normalize_day_resolves_spoken_days_into_the_future(text: str, value: date | None) -> None:
    assert g.normalize_day(text, today=TODAY) == value
