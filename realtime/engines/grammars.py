"""Recognition grammars for directed questions, and the functions that turn recognised text into values.

Every grammar accepts the caller's universal commands too ("repeat that", "agent please"), so a
caller can always ask for a human or a repeat, whatever the question was. Words are plain lower-case
English words from the recogniser's pronouncing dictionary (cmudict): letters are spelled as the
single letters ("p a"), digits as words ("one two").

Normalisers take the recogniser's text (a grammar phrase, or free-form text from any engine, where
digits may come back as "1 2 3") and return a value or None.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from datetime import date, timedelta

from realtime.engines.base import Grammar

# ---------------------------------------------------------------- vocabulary

DIGIT_WORDS: dict[str, str] = {
    "zero": "0",
    "oh": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
LETTERS = tuple("abcdefghijklmnopqrstuvwxyz")

REPEAT_PHRASES = ("repeat that", "say that again", "repeat", "pardon", "sorry what", "what did you say")
HUMAN_PHRASES = (
    "agent",
    "agent please",
    "an agent",
    "a human",
    "human",
    "operator",
    "representative",
    "a real person",
    "speak to a person",
    "talk to a person",
    "speak to an agent",
    "talk to an agent",
    "speak to someone",
)
COMMAND_PHRASES = REPEAT_PHRASES + HUMAN_PHRASES

YES_PHRASES = (
    "yes",
    "yeah",
    "yep",
    "yes please",
    "yes it is",
    "yes that's right",
    "that's right",
    "that is right",
    "that's correct",
    "correct",
    "right",
    "sure",
    "okay",
)
NO_PHRASES = (
    "no",
    "nope",
    "no thanks",
    "no it isn't",
    "no that's wrong",
    "that's wrong",
    "that is wrong",
    "not really",
    "incorrect",
    "wrong",
)
INJURY_YES_PHRASES = YES_PHRASES + (
    "someone was hurt",
    "someone was injured",
    "somebody was hurt",
    "somebody was injured",
    "i was hurt",
    "i was injured",
    "i am hurt",
    "i'm hurt",
    "my passenger was hurt",
    "yes someone was hurt",
)
INJURY_NO_PHRASES = NO_PHRASES + (
    "nobody was hurt",
    "nobody was injured",
    "no one was hurt",
    "no one was injured",
    "no injuries",
    "no one",
    "nobody",
    "no nobody was hurt",
    "no one is hurt",
    "we are fine",
    "everyone is fine",
)

MONTHS = tuple(m.lower() for m in calendar.month_name[1:])
WEEKDAYS = tuple(d.lower() for d in calendar.day_name)
ORDINALS: dict[str, int] = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
    "twentieth": 20,
    "twenty first": 21,
    "twenty second": 22,
    "twenty third": 23,
    "twenty fourth": 24,
    "twenty fifth": 25,
    "twenty sixth": 26,
    "twenty seventh": 27,
    "twenty eighth": 28,
    "twenty ninth": 29,
    "thirtieth": 30,
    "thirty first": 31,
}

# Canonical vehicle type -> the ways a caller says it.
VEHICLE_TYPES: dict[str, tuple[str, ...]] = {
    "car": ("car", "a car", "my car", "passenger car", "automobile"),
    "sedan": ("sedan", "a sedan"),
    "suv": ("suv", "an suv", "s u v", "an s u v", "sport utility vehicle"),
    "pickup truck": ("pickup", "pickup truck", "a pickup", "a pickup truck"),
    "truck": ("truck", "a truck"),
    "van": ("van", "a van", "minivan", "a minivan"),
    "motorcycle": ("motorcycle", "a motorcycle", "motorbike", "a motorbike"),
    "bus": ("bus", "a bus"),
    "bicycle": ("bicycle", "a bicycle", "bike", "a bike"),
    "scooter": ("scooter", "a scooter"),
    "station wagon": ("station wagon", "a station wagon", "wagon"),
    "hatchback": ("hatchback", "a hatchback"),
    "coupe": ("coupe", "a coupe"),
}

_JSGF_WORD = re.compile(r"[^a-z' ]+")


def _words(text: str) -> str:
    """Lower-case `text` and keep only what a JSGF token can hold (letters, apostrophes, spaces)."""
    return " ".join(_JSGF_WORD.sub(" ", text.lower().replace("-", " ")).split())


def _alternatives(phrases: Iterable[str]) -> str:
    seen: dict[str, None] = {}
    for phrase in phrases:
        words = _words(phrase)
        if words:
            seen.setdefault(words, None)
    if not seen:
        raise ValueError("a grammar needs at least one phrase")
    return " | ".join(f"( {p} )" for p in seen)


def _jsgf(name: str, public_body: str, rules: dict[str, str] | None = None) -> str:
    lines = ["#JSGF V1.0;", f"grammar {name};", f"public <{name}> = {public_body} | <command>;"]
    for rule, body in (rules or {}).items():
        lines.append(f"<{rule}> = {body};")
    lines.append(f"<command> = {_alternatives(COMMAND_PHRASES)};")
    return "\n".join(lines) + "\n"


def _grammar_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return cleaned if cleaned[:1].isalpha() else f"g_{cleaned}"


# ---------------------------------------------------------------- grammars


def phrase_grammar(name: str, phrases: Iterable[str]) -> Grammar:
    """A grammar accepting exactly `phrases` (plus the universal commands)."""
    phrase_list = tuple(dict.fromkeys(p for p in (_words(p) for p in phrases) if p))
    rule = _grammar_name(name)
    return Grammar(name=name, jsgf=_jsgf(rule, _alternatives(phrase_list)), phrases=phrase_list)


def yes_no_grammar() -> Grammar:
    phrases = YES_PHRASES + NO_PHRASES
    return Grammar(name="yes_no", jsgf=_jsgf("yes_no", _alternatives(phrases)), phrases=phrases)


def injury_grammar() -> Grammar:
    phrases = INJURY_YES_PHRASES + INJURY_NO_PHRASES
    return Grammar(name="injury", jsgf=_jsgf("injury", _alternatives(phrases)), phrases=phrases)


def digits_grammar() -> Grammar:
    """Letters then digits, as policy numbers are read out ("p a one two three ..."), or digits alone."""
    body = "[ my policy number is | it is | it's ] [ <letter> [ <letter> ] ] <digit>+"
    rules = {
        "letter": " | ".join(LETTERS),
        # "oh" is left out: PocketSphinx inserts it between digits (measured on espeak speech);
        # normalize_digits still reads it from free-form engines.
        "digit": " | ".join(w for w in DIGIT_WORDS if w != "oh"),
    }
    phrases = ("p a one two three four five six", "one two three four")
    return Grammar(name="digits", jsgf=_jsgf("digits", body, rules), phrases=phrases)


def _date_rules() -> dict[str, str]:
    """The JSGF rules every date grammar shares: weekdays, months, days of the month."""
    return {
        "weekday": " | ".join(WEEKDAYS),
        "month": " | ".join(MONTHS),
        "day": "<ordinal> | <cardinal>",
        "ordinal": " | ".join(f"( {o} )" for o in ORDINALS),
        "cardinal": " | ".join(f"( {c} )" for c in _CARDINAL_DAYS),
    }


def _with_extra(body: str, extra: Iterable[str]) -> str:
    """`body`, or any of the `extra` phrases (an agent's own words, e.g. "support")."""
    phrases = [p for p in (_words(p) for p in extra) if p]
    return f"( {body} ) | {_alternatives(phrases)}" if phrases else body


def date_grammar() -> Grammar:
    """Relative days, weekdays and month-day dates ("march third", "the third of march")."""
    body = (
        "[ it was | it happened ] [ on ] ( today | yesterday | the day before yesterday"
        " | this morning | last night | [ last ] <weekday>"
        " | <month> [ the ] <day> | the <ordinal> of <month> | the <ordinal> )"
    )
    phrases = ("today", "yesterday", "march third", "the third of march", "last monday")
    return Grammar(name="date", jsgf=_jsgf("date", body, _date_rules()), phrases=phrases)


def birth_date_grammar(*, extra: Iterable[str] = ()) -> Grammar:
    """A date of birth: the date grammar's month-day forms and a spoken year ("july fourth nineteen
    eighty", "the fourth of july two thousand and one"), or one of the `extra` phrases."""
    body = (
        "[ my date of birth is | i was born on | it's | it is ]"
        " ( <month> [ the ] <day> | the <ordinal> of <month> ) [ <year> ]"
    )
    rules = {
        **_date_rules(),
        # "twenty" starts only the years 2010 to 2029: "twenty ninety" is no birth year (and would
        # compete with "nineteen ninety" in the recogniser).
        "year": "nineteen <two_digits> | twenty ( <teen> | twenty [ <unit> ] ) | two thousand [ [ and ] <two_digits> ]",
        "two_digits": "<unit> | <teen> | <tens> [ <unit> ]",
        "unit": " | ".join(_YEAR_UNITS),
        "teen": " | ".join(_YEAR_TEENS),
        "tens": " | ".join(_YEAR_TENS),
    }
    phrases = ("july fourth nineteen eighty", "the fourth of july nineteen eighty", *extra)
    return Grammar(name="birth_date", jsgf=_jsgf("birth_date", _with_extra(body, extra), rules), phrases=phrases)


def day_grammar(*, extra: Iterable[str] = ()) -> Grammar:
    """A day to come (an appointment): "tomorrow", "next monday", "march sixteenth", "the sixteenth",
    or one of the `extra` phrases."""
    body = (
        "[ how about | what about ] [ on ] ( today | tomorrow | the day after tomorrow | [ next | this ] <weekday>"
        " | <month> [ the ] <day> | the <ordinal> of <month> | the <ordinal> )"
    )
    phrases = ("tomorrow", "next monday", "march sixteenth", "the sixteenth", *extra)
    jsgf = _jsgf("appointment_day", _with_extra(body, extra), _date_rules())  # not "day": a shared rule's name
    return Grammar(name="appointment_day", jsgf=jsgf, phrases=phrases)


def vehicle_grammar() -> Grammar:
    phrases = tuple(p for variants in VEHICLE_TYPES.values() for p in variants)
    body = "[ it was | it's | it is ] ( " + _alternatives(phrases) + " )"
    return Grammar(name="vehicle", jsgf=_jsgf("vehicle", body), phrases=phrases)


# ---------------------------------------------------------------- normalisers


def _contains_phrase(text: str, phrases: Iterable[str]) -> bool:
    padded = f" {_words(text)} "
    return any(f" {p} " in padded for p in phrases)


def is_repeat_request(text: str) -> bool:
    return _contains_phrase(text, REPEAT_PHRASES)


def is_human_request(text: str) -> bool:
    return _contains_phrase(text, HUMAN_PHRASES) or _contains_phrase(text, ("person", "someone real"))


def normalize_yes_no(text: str) -> bool | None:
    """True for yes, False for no, None when neither (or both) is said."""
    words = _words(text)
    if not words:
        return None
    no = _contains_phrase(words, NO_PHRASES + ("not",))
    yes = _contains_phrase(words, YES_PHRASES)
    if no == yes:
        # "no that's right" is ambiguous; the first word decides.
        first = words.split()[0]
        if first in ("no", "nope"):
            return False
        if first in ("yes", "yeah", "yep"):
            return True
        return None
    return yes


def normalize_injury(text: str) -> bool | None:
    """True when someone was injured, False when nobody was, None when unclear."""
    words = _words(text)
    if _contains_phrase(words, INJURY_NO_PHRASES[len(NO_PHRASES) :]):
        return False
    if _contains_phrase(words, INJURY_YES_PHRASES[len(YES_PHRASES) :]):
        return True
    return normalize_yes_no(words)


def normalize_digits(text: str) -> str:
    """Spoken letters and digits as one string: "p a one two three" -> "PA123"; other words dropped."""
    out: list[str] = []
    for token in re.findall(r"[a-z']+|\d", text.lower()):
        if token.isdigit():
            out.append(token)
        elif token in DIGIT_WORDS:
            out.append(DIGIT_WORDS[token])
        elif len(token) == 1:
            out.append(token.upper())
    return "".join(out)


POLICY_NUMBER = re.compile(r"^[A-Z]{2}\d{6}$")


def normalize_policy_number(text: str) -> str | None:
    """A policy number is two letters and six digits ("PA123456"); None if the text is not one."""
    value = normalize_digits(text)
    return value if POLICY_NUMBER.match(value) else None


_CARDINAL_DAYS: dict[str, int] = {
    **{w: int(d) for w, d in DIGIT_WORDS.items() if w not in ("zero", "oh") and d != "0"},
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    **{f"twenty {w}": 20 + int(d) for w, d in DIGIT_WORDS.items() if d != "0" and w != "oh"},
    "thirty": 30,
    "thirty one": 31,
}
_DAY_WORDS: dict[str, int] = {**_CARDINAL_DAYS, **ORDINALS}


def _day_number(words: list[str]) -> int | None:
    """The day of month in `words`: the longest ordinal/cardinal phrase, or a number like "3rd"."""
    joined = " ".join(words)
    for token in words:
        m = re.fullmatch(r"(\d{1,2})(st|nd|rd|th)?", token)
        if m:
            return int(m.group(1))
    best: tuple[int, int] | None = None
    for phrase, number in _DAY_WORDS.items():
        if re.search(rf"\b{phrase}\b", joined):
            length = len(phrase.split())
            if best is None or length > best[0]:
                best = (length, number)
    return best[1] if best else None


def normalize_date(text: str, *, today: date) -> date | None:
    """The date the caller means, relative to `today`; losses are in the past, so "march third" is the
    most recent March 3rd not after `today`, and "monday" is the most recent Monday before today."""
    words = re.findall(r"[a-z']+|\d+", re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text.lower()))
    joined = " ".join(words)
    if not words:
        return None
    if "day before yesterday" in joined:
        return today - timedelta(days=2)
    if "yesterday" in words or "last night" in joined:
        return today - timedelta(days=1)
    if "today" in words or "this morning" in joined or "tonight" in words:
        return today
    month = next((MONTHS.index(w) + 1 for w in words if w in MONTHS), None)
    day = _day_number(words)
    if month is not None and day is not None:
        for year in (today.year, today.year - 1):
            try:
                candidate = date(year, month, day)
            except ValueError:
                return None
            if candidate <= today:
                return candidate
        return None
    weekday = next((WEEKDAYS.index(w) for w in words if w in WEEKDAYS), None)
    if weekday is not None:
        back = (today.weekday() - weekday) % 7 or 7
        return today - timedelta(days=back)
    if day is not None and month is None and ("the" in words or len(words) <= 2):
        # "the third": the most recent third of a month.
        candidate_month = date(today.year, today.month, 1)
        for _ in range(3):
            try:
                day_in_month = candidate_month.replace(day=day)
            except ValueError:
                day_in_month = candidate_month + timedelta(days=400)  # no such day: never <= today
            if day_in_month <= today:
                return day_in_month
            candidate_month = (candidate_month - timedelta(days=1)).replace(day=1)
    return None


_YEAR_UNITS: dict[str, int] = {w: int(d) for w, d in DIGIT_WORDS.items() if d != "0"}
_YEAR_TEENS: dict[str, int] = {
    w: n
    for n, w in enumerate(
        ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"),
        start=10,
    )
}
_YEAR_TENS: dict[str, int] = {
    w: 10 * n for n, w in enumerate(("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"), 2)
}


def _two_digits(words: list[str]) -> int | None:
    """ "eighty five" -> 85, "twelve" -> 12, "seven" -> 7: all of `words`, or None."""
    if len(words) == 1:
        return _YEAR_UNITS.get(words[0], _YEAR_TEENS.get(words[0], _YEAR_TENS.get(words[0])))
    if len(words) == 2 and words[0] in _YEAR_TENS and words[1] in _YEAR_UNITS:
        return _YEAR_TENS[words[0]] + _YEAR_UNITS[words[1]]
    return None


def _spoken_year(words: list[str]) -> tuple[int, int] | None:
    """The year said at the end of `words`, as (year, index where it starts): "nineteen eighty",
    "twenty twelve", "two thousand and one", or four digits."""
    if words and re.fullmatch(r"\d{4}", words[-1]):
        return int(words[-1]), len(words) - 1
    for start in range(max(len(words) - 4, 0), len(words)):
        head, tail = words[start : start + 2], words[start + 2 :]
        if head == ["two", "thousand"]:
            tail = tail[1:] if tail[:1] == ["and"] else tail
            rest = _two_digits(tail) if tail else 0
            if rest is not None:
                return 2000 + rest, start
        if words[start] in ("nineteen", "twenty"):
            rest = _two_digits(words[start + 1 :])
            if rest is not None and rest >= 10:
                return (1900 if words[start] == "nineteen" else 2000) + rest, start
    return None


def normalize_birth_date(text: str, *, today: date) -> date | None:
    """A date of birth with its year ("july fourth nineteen eighty" -> 1980-07-04); None without a
    year, for an impossible date, or one after `today`."""
    words = re.findall(r"[a-z']+|\d+", re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text.lower()))
    year = _spoken_year(words)
    if year is None:
        return None
    head = words[: year[1]]
    month = next((MONTHS.index(w) + 1 for w in head if w in MONTHS), None)
    day = _day_number(head)
    if month is None or day is None:
        return None
    try:
        born = date(year[0], month, day)
    except ValueError:
        return None
    return born if born <= today else None


def normalize_day(text: str, *, today: date) -> date | None:
    """The day to come the caller means, relative to `today`: "tomorrow", "next monday" (the first
    Monday after today), "march sixteenth" and "the sixteenth" (the next such date, today included)."""
    words = re.findall(r"[a-z']+|\d+", re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text.lower()))
    joined = " ".join(words)
    if not words:
        return None
    if "day after tomorrow" in joined:
        return today + timedelta(days=2)
    if "tomorrow" in words:
        return today + timedelta(days=1)
    if "today" in words:
        return today
    month = next((MONTHS.index(w) + 1 for w in words if w in MONTHS), None)
    day = _day_number(words)
    if month is not None and day is not None:
        for year in (today.year, today.year + 1):
            try:
                candidate = date(year, month, day)
            except ValueError:
                return None
            if candidate >= today:
                return candidate
        return None
    weekday = next((WEEKDAYS.index(w) for w in words if w in WEEKDAYS), None)
    if weekday is not None:
        return today + timedelta(days=(weekday - today.weekday()) % 7 or 7)
    if day is not None and month is None and ("the" in words or len(words) <= 2):
        first = date(today.year, today.month, 1)
        for _ in range(3):  # the 31st may be two months away
            try:
                if (candidate := first.replace(day=day)) >= today:
                    return candidate
            except ValueError:  # no such day this month
                pass
            first = (first + timedelta(days=32)).replace(day=1)
    return None


def normalize_vehicle(text: str) -> str | None:
    """The canonical vehicle type named in `text` ("an s u v" -> "suv"), preferring longer phrases."""
    words = _words(text)
    padded = f" {words} "
    best: tuple[int, str] | None = None
    for canonical, variants in VEHICLE_TYPES.items():
        for variant in (canonical, *variants):
            if f" {variant} " in padded and (best is None or len(variant) > best[0]):
                best = (len(variant), canonical)
    return best[1] if best else None


def spoken_digits(value: str) -> str:
    """How the agent reads an id back: "PA123456" -> "P A 1 2 3 4 5 6" (one character at a time)."""
    return " ".join(char for char in value if char.isalnum())
