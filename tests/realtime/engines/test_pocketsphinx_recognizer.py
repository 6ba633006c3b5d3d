"""PocketSphinx recognises espeak speech: grammar phrases exactly, free-form speech as some text,
silence as nothing; streams decode off the event loop and give decoders back to the pool."""

from __future__ import annotations

import asyncio
import time
from datetime import date

import pytest

from realtime.engines import grammars
from realtime.engines.base import Grammar, Recognizer
from realtime.engines.pocketsphinx_recognizer import PocketsphinxRecognizer, RecognizerClosed
from switchboard.speech import render_speech

FRAME = 640  # 20 ms at 16 kHz


@pytest.fixture(scope="module")
async def recognizer():
    rec = PocketsphinxRecognizer(max_workers=2)
    await rec.warm_up(1)
    yield rec
    await rec.aclose()


async def recognise(rec: PocketsphinxRecognizer, pcm: bytes, grammar: Grammar | None = None) -> str:
    stream = rec.open_stream(grammar=grammar)
    try:
        for i in range(0, len(pcm), FRAME):
            await stream.feed(pcm[i : i + FRAME])
        result = await stream.finish()
    finally:
        await stream.aclose()
    assert result.is_final
    return result.text


def test_recognizer_implements_the_interface() -> None:
    assert isinstance(PocketsphinxRecognizer(), Recognizer)


@pytest.mark.parametrize(
    ("grammar", "spoken", "expected"),
    [
        (grammars.yes_no_grammar(), "yes", True),
        (grammars.yes_no_grammar(), "no", False),
    ],
)
async def test_yes_no_grammar_recognises_espeak_answers(recognizer, grammar, spoken, expected) -> None:
    text = await recognise(recognizer, render_speech(spoken), grammar)
    assert grammars.normalize_yes_no(text) is expected


async def test_digits_grammar_recognises_a_spoken_digit_string(recognizer) -> None:
    text = await recognise(recognizer, render_speech("5 3 7 2"), grammars.digits_grammar())
    assert grammars.normalize_digits(text) == "5372"


async def test_grammar_recognises_the_request_for_a_person(recognizer) -> None:
    text = await recognise(recognizer, render_speech("agent please"), grammars.date_grammar())
    assert grammars.is_human_request(text)


async def test_date_and_vehicle_grammars_recognise_their_phrases(recognizer) -> None:
    assert await recognise(recognizer, render_speech("yesterday"), grammars.date_grammar()) == "yesterday"
    vehicle = await recognise(recognizer, render_speech("motorcycle"), grammars.vehicle_grammar())
    assert grammars.normalize_vehicle(vehicle) == "motorcycle"


async def test_free_form_returns_text_for_speech_and_nothing_for_silence(recognizer) -> None:
    assert await recognise(recognizer, render_speech("my car was hit by a truck yesterday"))
    assert await recognise(recognizer, b"\0" * 32000) == ""


async def test_a_stream_with_no_audio_finishes_empty(recognizer) -> None:
    stream = recognizer.open_stream()
    assert (await stream.finish()).text == ""
    await stream.aclose()


async def test_partials_arrive_while_audio_is_fed(recognizer) -> None:
    pcm = render_speech("yes")
    stream = recognizer.open_stream(grammar=grammars.yes_no_grammar())
    for i in range(0, len(pcm), FRAME):
        await stream.feed(pcm[i : i + FRAME])
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    partial = stream.partial()
    assert partial is not None and not partial.is_final
    await stream.finish()
    await stream.aclose()


async def test_finish_with_a_grammar_takes_tens_of_milliseconds(recognizer) -> None:
    pcm = render_speech("p a 1 2 3 4 5 6")
    stream = recognizer.open_stream(grammar=grammars.digits_grammar())
    for i in range(0, len(pcm), FRAME):
        await stream.feed(pcm[i : i + FRAME])
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.05)  # the caller's trailing silence while end of speech is detected
    started = time.perf_counter()
    await stream.finish()
    assert time.perf_counter() - started < 0.1
    await stream.aclose()


async def test_concurrent_streams_use_separate_decoders_and_return_them(recognizer) -> None:
    yes, no = render_speech("yes"), render_speech("no")
    texts = await asyncio.gather(
        recognise(recognizer, yes, grammars.yes_no_grammar()),
        recognise(recognizer, no, grammars.yes_no_grammar()),
    )
    assert [grammars.normalize_yes_no(t) for t in texts] == [True, False]
    assert recognizer.idle_decoders >= 2


async def test_decoding_does_not_hold_the_event_loop_for_long(recognizer) -> None:
    pcm = render_speech("my car was hit by a truck on the highway and then we drove home slowly") * 2
    gaps: list[float] = []
    done = False

    async def ticker() -> None:
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.002)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    await recognise(recognizer, pcm)
    done = True
    await tick
    assert max(gaps) < 0.1


async def test_using_a_finished_stream_or_closed_recognizer_fails_clearly() -> None:
    rec = PocketsphinxRecognizer(max_workers=1)
    stream = rec.open_stream()
    await stream.finish()
    with pytest.raises(RecognizerClosed):
        await stream.feed(b"\0" * FRAME)
    await stream.aclose()
    await rec.aclose()
    with pytest.raises(RecognizerClosed):
        rec.open_stream()


async def test_birth_date_and_day_grammars_recognise_their_phrases(recognizer) -> None:
    today = date(2026, 3, 10)
    born = await recognise(recognizer, render_speech("july fourth nineteen eighty"), grammars.birth_date_grammar())
    assert grammars.normalize_birth_date(born, today=today) == date(1980, 7, 4)
    day = await recognise(recognizer, render_speech("next monday"), grammars.day_grammar())
    assert grammars.normalize_day(day, today=today) == date(2026, 3, 16)
