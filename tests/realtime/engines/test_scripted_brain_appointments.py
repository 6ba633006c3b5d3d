"""The scripted clinic appointments brain books exactly one appointment from the diary's first free
time, reads the time and confirmation code back, offers other times, re-asks an unknown date of
birth, transfers to reception or hands off to support on request, and survives barge-in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import date
from typing import Any

from realtime.engines.base import (
    BrainContext,
    BrainEvent,
    ConversationTurn,
    EndCallRequested,
    HandoffRequested,
    TextDelta,
    ToolCallRequested,
    TransferRequested,
)
from realtime.engines.scripted_appointments import AppointmentsBrain, Step, say_time
from realtime.engines.scripted_brain import ScriptedBrainFactory

TODAY = date(2026, 3, 10)  # a Tuesday: "next monday" is March 16
ANSWERS = ["july fourth nineteen eighty", "next monday", "yes"]
CTX = BrainContext(call_id="call-1", agent="appointments")


class Diary:
    """A fake tool runner for the clinic's diary: `find_slots` answers from `slots`, `book_appointment`
    with a confirmation code (or `book_error`)."""

    def __init__(
        self,
        *,
        slots: list[str] | None = None,
        patient_found: bool | list[bool] = True,
        book_error: str | list[str] = "",
        delay: float = 0.0,
    ) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.slots = ["09:00", "09:30", "10:00"] if slots is None else slots
        self._found = patient_found if isinstance(patient_found, list) else [patient_found]
        self._book_errors = book_error if isinstance(book_error, list) else [book_error]
        self._delay = delay

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    async def run(self, name: str, arguments: Mapping[str, Any]) -> Mapping[str, Any]:
        self.calls.append((name, dict(arguments)))
        await asyncio.sleep(self._delay)
        if name == "find_slots":
            found = self._found.pop(0) if len(self._found) > 1 else self._found[0]
            return {
                "day": arguments["day"],
                "slots": list(self.slots),
                "patient_found": found,
                "patient_name": "Jane Doe" if found else "",
            }
        error = self._book_errors.pop(0) if len(self._book_errors) > 1 else self._book_errors[0]
        if error:
            return {"error": error}
        return {"confirmation_code": "APT-123456", "day": arguments["day"], "time": arguments["time"], "created": True}


def new_brain(diary: Diary) -> AppointmentsBrain:
    brain = ScriptedBrainFactory(today=TODAY).new_brain(call_id="call-1", agent="appointments", tools=diary)
    assert isinstance(brain, AppointmentsBrain)
    return brain


async def collect(events: AsyncIterator[BrainEvent]) -> list[BrainEvent]:
    return [e async for e in events]


def text(events: list[BrainEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def actions(events: list[BrainEvent]) -> list[BrainEvent]:
    return [e for e in events if not isinstance(e, TextDelta | ToolCallRequested)]


async def run_dialogue(answers: list[str], diary: Diary | None = None) -> tuple[list[list[BrainEvent]], Diary]:
    diary = diary or Diary()
    brain = new_brain(diary)
    transcript = [await collect(brain.greet(CTX))]
    for answer in answers:
        transcript.append(await collect(brain.respond(answer, CTX)))
    return transcript, diary


async def test_whole_dialogue_books_the_first_free_time_once_and_reads_the_code_back() -> None:
    transcript, diary = await run_dialogue(ANSWERS)
    assert diary.calls == [
        ("find_slots", {"date_of_birth": "1980-07-04", "day": "2026-03-16"}),
        ("book_appointment", {"date_of_birth": "1980-07-04", "day": "2026-03-16", "time": "09:00"}),
    ]
    greeting, birth_date, offer, booked = (text(t) for t in transcript)
    assert "Switchboard Clinic" in greeting and "date of birth" in greeting
    assert "July 4, 1980" in birth_date and "Which day" in birth_date
    assert "first free time on Monday, March 16, 2026 is nine o'clock in the morning" in offer
    assert offer.endswith("Shall I book it? ")
    assert "nine o'clock in the morning on Monday, March 16, 2026" in booked
    assert booked.count("A P T 1 2 3 4 5 6") == 2 and "goodbye" in booked
    assert actions(transcript[-1]) == [EndCallRequested(reason="appointment booked")]
    assert [type(e) for e in transcript[2] if not isinstance(e, TextDelta)] == [ToolCallRequested]


async def test_same_answers_give_the_same_dialogue() -> None:
    first, _ = await run_dialogue(ANSWERS)
    second, _ = await run_dialogue(ANSWERS)
    assert first == second


async def test_each_question_comes_with_its_grammar() -> None:
    brain = new_brain(Diary())
    names = []
    await collect(brain.greet(CTX))
    for answer in ANSWERS:
        names.append(g.name if (g := brain.expected_grammar()) else None)
        await collect(brain.respond(answer, CTX))
    names.append(g.name if (g := brain.expected_grammar()) else None)
    assert names == ["birth_date", "appointment_day", "offer", None]


async def test_the_booked_slot_and_code_come_from_the_tool_result() -> None:
    class OtherTime(Diary):
        async def run(self, name: str, arguments: Mapping[str, Any]) -> Mapping[str, Any]:
            result = dict(await super().run(name, arguments))
            return {**result, "time": "14:30", "confirmation_code": "APT-000777"} if "time" in result else result

    transcript, _ = await run_dialogue(ANSWERS, OtherTime())
    assert "two thirty in the afternoon" in text(transcript[-1]) and "A P T 0 0 0 7 7 7" in text(transcript[-1])


async def test_no_offers_the_next_free_time_then_asks_for_another_day() -> None:
    diary = Diary(slots=["09:00", "11:30"])
    transcript, _ = await run_dialogue([*ANSWERS[:2], "no", "no", "tomorrow", "yes"], diary)
    assert "next free time that day is eleven thirty in the morning" in text(transcript[3])
    assert "last free time" in text(transcript[4]) and "Which day" in text(transcript[4])
    assert [args["day"] for name, args in diary.calls if name == "find_slots"] == ["2026-03-16", "2026-03-11"]
    assert diary.names() == ["find_slots", "find_slots", "book_appointment"]


async def test_a_day_without_free_times_is_asked_again() -> None:
    transcript, diary = await run_dialogue(ANSWERS[:2], Diary(slots=[]))
    assert "no free appointments on Monday, March 16, 2026" in text(transcript[-1])
    assert "Which day" in text(transcript[-1]) and diary.names() == ["find_slots"]


async def test_an_unknown_date_of_birth_is_asked_again_then_transferred_to_reception() -> None:
    diary = Diary(patient_found=[False, True])
    transcript, _ = await run_dialogue([*ANSWERS[:2], "november twenty third nineteen seventy five"], diary)
    assert "can't find a patient born on July 4, 1980" in text(transcript[2])
    # The day is kept: the diary is looked up again straight away.
    assert "Shall I book it?" in text(transcript[3])
    assert [args["date_of_birth"] for _, args in diary.calls] == ["1980-07-04", "1975-11-23"]

    transcript, diary = await run_dialogue([*ANSWERS[:2], ANSWERS[0]], Diary(patient_found=False))
    assert actions(transcript[-1]) == [TransferRequested(target="clinic-reception", reason="patient not found")]
    assert "book_appointment" not in diary.names()


async def test_asking_for_a_person_transfers_to_reception_and_a_refusal_carries_on() -> None:
    brain = new_brain(Diary())
    await collect(brain.greet(CTX))
    await collect(brain.respond(ANSWERS[0], CTX))
    events = await collect(brain.respond("can i speak to the receptionist", CTX))
    assert actions(events) == [TransferRequested(target="clinic-reception", reason="caller asked for a person")]
    resumed = text(await collect(brain.transfer_refused("nobody answered")))
    assert "couldn't reach reception" in resumed and "Which day" in resumed
    assert brain.step is Step.DAY
    assert actions(await collect(brain.respond("agent please", CTX)))[0] == TransferRequested(
        target="clinic-reception", reason="caller asked for a person"
    )


async def test_a_support_question_hands_off_to_support_and_a_refusal_asks_again() -> None:
    brain = new_brain(Diary())
    await collect(brain.greet(CTX))
    events = await collect(brain.respond("i have a question about billing", CTX))
    assert actions(events) == [HandoffRequested(target_agent="support", reason="support question")]
    again = text(await collect(brain.handoff_refused("support")))
    assert "can't connect you to support" in again and "date of birth" in again
    assert brain.step is Step.BIRTH_DATE


async def test_repeat_that_repeats_the_last_question() -> None:
    brain = new_brain(Diary())
    await collect(brain.greet(CTX))
    await collect(brain.respond(ANSWERS[0], CTX))
    repeated = text(await collect(brain.respond("could you repeat that", CTX)))
    assert repeated.startswith("Sure.") and "Which day" in repeated
    assert brain.step is Step.DAY


async def test_unrecognised_answers_are_reprompted_then_transferred() -> None:
    brain = new_brain(Diary())
    await collect(brain.greet(CTX))
    assert "didn't catch that" in text(await collect(brain.respond("", CTX)))
    assert "date of birth" in text(await collect(brain.respond("banana", CTX)))
    # A date without a year is no date of birth.
    last = await collect(brain.respond("july fourth", CTX))
    assert actions(last) == [TransferRequested(target="clinic-reception", reason="too many unrecognised answers")]


async def test_an_answer_to_an_offer_the_caller_never_heard_is_not_taken() -> None:
    diary = Diary()
    brain = new_brain(diary)
    await collect(brain.greet(CTX))
    await collect(brain.respond(ANSWERS[0], CTX))
    await collect(brain.respond(ANSWERS[1], CTX))
    heard = ConversationTurn(role="agent", text="Monday, March 16, 2026. One moment", interrupted=True)
    ctx = BrainContext(call_id="call-1", agent="appointments", history=(heard,))
    events = await collect(brain.respond("yes", ctx))
    assert text(events).startswith("Sorry, go ahead.") and "Shall I book it?" in text(events)
    assert diary.names() == ["find_slots"] and brain.step is Step.OFFER


async def test_barge_in_while_booking_neither_loses_nor_duplicates_the_booking() -> None:
    diary = Diary(delay=0.05)
    brain = new_brain(diary)
    await collect(brain.greet(CTX))
    for answer in ANSWERS[:2]:
        await collect(brain.respond(answer, CTX))

    task = asyncio.create_task(collect(brain.respond("yes", CTX)))
    await asyncio.sleep(0.01)  # the booking is running
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    events = await collect(brain.respond("hello?", CTX))
    assert "A P T 1 2 3 4 5 6" in text(events) and isinstance(events[-1], EndCallRequested)
    assert diary.names() == ["find_slots", "book_appointment"]
    # After the goodbye, any answer repeats it; nothing is booked again.
    assert "A P T 1 2 3 4 5 6" in text(await collect(brain.respond("what was that", CTX)))
    assert diary.names() == ["find_slots", "book_appointment"]


async def test_yes_cut_off_before_the_booking_started_still_books_once() -> None:
    diary = Diary()
    brain = new_brain(diary)
    await collect(brain.greet(CTX))
    for answer in ANSWERS[:2]:
        await collect(brain.respond(answer, CTX))
    stream = brain.respond("yes", CTX)
    first = await anext(stream)
    await stream.aclose()  # barge-in on "Thank you." before the tool was asked for
    assert isinstance(first, TextDelta) and diary.names() == ["find_slots"]
    events = await collect(brain.respond("sorry, go on", CTX))
    assert "A P T 1 2 3 4 5 6" in text(events)
    assert diary.names() == ["find_slots", "book_appointment"]


async def test_barge_in_while_looking_the_day_up_keeps_the_lookup() -> None:
    diary = Diary(delay=0.05)
    brain = new_brain(diary)
    await collect(brain.greet(CTX))
    await collect(brain.respond(ANSWERS[0], CTX))
    task = asyncio.create_task(collect(brain.respond(ANSWERS[1], CTX)))
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    events = await collect(brain.respond("hello?", CTX))
    assert "Shall I book it?" in text(events) and diary.names() == ["find_slots"]


async def test_a_failed_booking_looks_the_day_up_again_then_transfers() -> None:
    diary = Diary(book_error=["09:00 on 2026-03-16 is already taken", ""])
    transcript, _ = await run_dialogue([*ANSWERS, "yes"], diary)
    assert "couldn't book that time" in text(transcript[3]) and "Shall I book it?" in text(transcript[3])
    assert "A P T 1 2 3 4 5 6" in text(transcript[4])
    assert diary.names() == ["find_slots", "book_appointment", "find_slots", "book_appointment"]

    transcript, diary = await run_dialogue([*ANSWERS, "yes"], Diary(book_error="diary down"))
    assert actions(transcript[-1]) == [TransferRequested(target="clinic-reception", reason="booking failed")]
    assert diary.names().count("book_appointment") == 2


def test_times_are_spoken_as_words() -> None:
    assert say_time("09:00") == "nine o'clock in the morning"
    assert say_time("14:30") == "two thirty in the afternoon"
    assert say_time("12:15") == "twelve fifteen in the afternoon"
