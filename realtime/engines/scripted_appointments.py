"""The offline brain of the clinic's appointment line (agent `appointments`), as a directed dialogue.

It asks for the patient's date of birth and the day they would like to come, looks the day up
through the read-only `find_slots` tool (which also says whether the date of birth is a patient's),
offers the first free time, and on "yes" books it through the durable `book_appointment` tool; the
booked time and the confirmation code (from the tool's result) are read back and the call ends.
"No" offers the next free time that day. Everywhere, "repeat that" repeats the last question, asking
for a person transfers the call to reception, and a support question hands the call to `support`.

Barge-in, as in the FNOL brain: the answer is committed (the step moves on) before anything is
spoken; an answer to an offer the caller never heard is not taken; both lookups run in tasks the
brain owns, so cancelling the answer that started them neither loses nor repeats them: the next
answer picks the result up. One booking per brain, however often it is interrupted.

Same inputs (texts, history, tool results, `today`) give the same outputs.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Mapping, Sequence
from datetime import date
from enum import Enum
from functools import cache
from typing import Any

from realtime.engines import grammars
from realtime.engines.base import (
    BrainContext,
    BrainEvent,
    ConversationTurn,
    EndCallRequested,
    Grammar,
    HandoffRequested,
    ToolCallRequested,
    ToolRunner,
    TransferRequested,
)
from realtime.engines.scripted_brain import SUPPORT_AGENT, _Reply, _say_date, _speak, question_heard

FIND_SLOTS_TOOL = "find_slots"
BOOK_APPOINTMENT_TOOL = "book_appointment"
RECEPTION = "clinic-reception"

# Said instead of an answer: a person at reception, or another agent (support).
RECEPTION_PHRASES = ("reception", "receptionist", "the receptionist", "speak to reception")
SUPPORT_PHRASES = ("support", "billing", "a billing question", "my bill", "insurance", "i have a question")
_EXTRA = RECEPTION_PHRASES + SUPPORT_PHRASES


class Step(Enum):
    BIRTH_DATE = "date_of_birth"
    DAY = "day"
    SEARCHING = "searching"
    OFFER = "offer"
    BOOKING = "booking"
    DONE = "done"


QUESTIONS: dict[Step, str] = {
    Step.BIRTH_DATE: "What is your date of birth? For example, July fourth, nineteen eighty.",
    Step.DAY: "Which day would you like to come in? For example tomorrow, or next Monday.",
}


@cache
def _grammar(step: Step) -> Grammar | None:
    match step:
        case Step.BIRTH_DATE:
            return grammars.birth_date_grammar(extra=_EXTRA)
        case Step.DAY:
            return grammars.day_grammar(extra=_EXTRA)
        case Step.OFFER:
            return grammars.phrase_grammar("offer", grammars.YES_PHRASES + grammars.NO_PHRASES + _EXTRA)
        case _:
            return None


_HOURS = ("twelve", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven")
_MINUTES = {0: "o'clock", 15: "fifteen", 30: "thirty", 45: "forty five"}


def say_time(value: str) -> str:
    """ "09:30" -> "nine thirty in the morning"; "14:00" -> "two o'clock in the afternoon"."""
    hour, minute = (int(part) for part in value.split(":"))
    part = "in the morning" if hour < 12 else "in the afternoon" if hour < 18 else "in the evening"
    return f"{_HOURS[hour % 12]} {_MINUTES.get(minute, f'{minute:02d}')} {part}"


def say_day(value: date) -> str:
    return f"{value:%A}, {_say_date(value)}"


class AppointmentsBrain:
    """`Brain` for one call to the clinic. Options: `today` (reference for spoken days; default the
    current date), `max_reprompts` per question and `max_birth_date_attempts` (no such patient)
    before transferring, `max_booking_attempts`, `transfer_target`, `clinic` named in the greeting."""

    def __init__(
        self,
        *,
        call_id: str,
        agent: str,
        tools: ToolRunner,
        today: date | None = None,
        max_reprompts: int = 2,
        max_birth_date_attempts: int = 2,
        max_booking_attempts: int = 2,
        transfer_target: str = RECEPTION,
        clinic: str = "Switchboard Clinic",
    ) -> None:
        self.call_id = call_id
        self.agent = agent
        self._tools = tools
        self._today = today or date.today()
        self._max_reprompts = max_reprompts
        self._max_birth_date_attempts = max_birth_date_attempts
        self._max_booking_attempts = max_booking_attempts
        self._transfer_target = transfer_target
        self._clinic = clinic
        self.step = Step.BIRTH_DATE
        self.birth_date: date | None = None
        self.day: date | None = None
        self.patient_name = ""
        self.slots: list[str] = []
        self.offered: str | None = None
        self.booking: Mapping[str, Any] | None = None
        self._question = QUESTIONS[Step.BIRTH_DATE]
        self._last_prompt = self._question
        self._reprompts = 0
        self._birth_date_attempts = 0
        self._searches = 0
        self._booking_attempts = 0
        self._lookup: asyncio.Future[Mapping[str, Any]] | None = None
        self._booking: asyncio.Future[Mapping[str, Any]] | None = None
        self._resume: Step | None = None

    # ------------------------------------------------------------ Brain

    def expected_grammar(self) -> Grammar | None:
        return _grammar(self.step)

    def greet(self, context: BrainContext) -> AsyncGenerator[BrainEvent, None]:
        text = (
            f"Thank you for calling {self._clinic}. I can book an appointment for you. "
            f"If you need a person at any time, just say reception. {QUESTIONS[Step.BIRTH_DATE]}"
        )
        self._ask(Step.BIRTH_DATE)
        self._last_prompt = text
        return _speak(_Reply(text))

    def respond(self, caller_text: str, context: BrainContext) -> AsyncGenerator[BrainEvent, None]:
        if self.step is Step.SEARCHING:
            return self._search()  # an earlier answer was cut off while looking the day up
        if self.step is Step.BOOKING:
            return self._book()  # ... or while booking
        reply = self._decide(caller_text.strip(), context.history)
        # The decision moved the step on: a lookup or a booking follows what is said first.
        if self.step is Step.SEARCHING:
            return self._then(reply, self._search())
        if self.step is Step.BOOKING:
            return self._then(reply, self._book())
        return _speak(reply)

    def transfer_refused(self, detail: str) -> AsyncGenerator[BrainEvent, None]:
        """The transfer did not happen: say so and pick the conversation up where it was."""
        step, self._resume = self._resume, None
        if step not in (Step.BIRTH_DATE, Step.DAY, Step.OFFER):
            self.step = Step.DONE
            return _speak(
                _Reply(
                    "I'm sorry, nobody at reception is available right now. Please call back later. Goodbye.",
                    [EndCallRequested(reason="transfer failed")],
                )
            )
        self._reprompts = 0
        return _speak(self._ask(step, prefix="I'm sorry, I couldn't reach reception just now. Let's carry on. "))

    def handoff_refused(self, target_agent: str) -> AsyncGenerator[BrainEvent, None]:
        """The workflow refused the handoff to support: say so and ask the open question again."""
        return _speak(self._ask(self.step, prefix="I'm sorry, I can't connect you to support right now. "))

    # ------------------------------------------------------------ deciding

    def _decide(self, text: str, history: Sequence[ConversationTurn]) -> _Reply:
        if self.step is Step.DONE:
            return self._goodbye(repeat=True)
        if text and (grammars.is_human_request(text) or _said(text, RECEPTION_PHRASES)):
            return self._transfer("Of course. I'll transfer you to reception now.", "caller asked for a person")
        if text and grammars.is_repeat_request(text):
            return _Reply(f"Sure. {self._last_prompt}")
        if text and _said(text, SUPPORT_PHRASES):
            # The step stays: if the workflow refuses the handoff, the question is asked again.
            return _Reply(
                "Of course. I'll pass you to our support team.",
                [HandoffRequested(target_agent=SUPPORT_AGENT, reason="support question")],
            )
        heard = question_heard(self._question, history)
        if not heard and self.step is Step.OFFER:
            # The caller spoke over an offer they never heard: do not take it as the answer.
            return self._ask(Step.OFFER, prefix="Sorry, go ahead. ")
        if not text:
            return self._reprompt("Sorry, I didn't catch that.", count=heard)
        handler = {Step.BIRTH_DATE: self._on_birth_date, Step.DAY: self._on_day, Step.OFFER: self._on_offer}[self.step]
        reply = handler(text)
        if reply is None:
            return self._reprompt("Sorry, I didn't understand that.", count=heard)
        return reply

    def _ask(self, step: Step, *, prefix: str = "") -> _Reply:
        self.step = step
        if step is Step.OFFER:
            question = f"The first free time on {say_day(self.day or self._today)} is {say_time(self.offered or '')}."
            if self.slots and self.offered != self.slots[0]:
                question = f"The next free time that day is {say_time(self.offered or '')}."
            question += " Shall I book it?"
        else:
            question = QUESTIONS[step]
        self._question = question
        self._last_prompt = question
        return _Reply(f"{prefix}{question}")

    def _reprompt(self, apology: str, *, count: bool) -> _Reply:
        if count:
            self._reprompts += 1
        if self._reprompts > self._max_reprompts:
            return self._transfer(
                "I'm sorry, I'm having trouble understanding. Let me transfer you to reception.",
                "too many unrecognised answers",
            )
        return _Reply(f"{apology} {self._question}")

    def _transfer(self, text: str, reason: str) -> _Reply:
        self._resume = self.step
        self.step = Step.DONE
        self._last_prompt = text
        return _Reply(text, [TransferRequested(target=self._transfer_target, reason=reason)])

    # ------------------------------------------------------------ answers

    def _on_birth_date(self, text: str) -> _Reply | None:
        value = grammars.normalize_birth_date(text, today=self._today)
        if value is None:
            return None
        self.birth_date = value
        self._reprompts = 0
        if self.day is not None:  # asked again after the lookup found no such patient
            self.step = Step.SEARCHING
            return _Reply(f"Thank you, {_say_date(value)}. Let me look again.")
        return self._ask(Step.DAY, prefix=f"Thank you, {_say_date(value)}. ")

    def _on_day(self, text: str) -> _Reply | None:
        value = grammars.normalize_day(text, today=self._today)
        if value is None:
            return None
        self.day = value
        self._reprompts = 0
        self.step = Step.SEARCHING
        return _Reply(f"{say_day(value)}. One moment while I check the diary.")

    def _on_offer(self, text: str) -> _Reply | None:
        value = grammars.normalize_yes_no(text)
        if value is None:
            return None
        self._reprompts = 0
        if value:
            self.step = Step.BOOKING
            return _Reply(f"Thank you. I'm booking {say_time(self.offered or '')} for you now.")
        later = self.slots[self.slots.index(self.offered) + 1 :] if self.offered in self.slots else []
        if later:
            self.offered = later[0]
            return self._ask(Step.OFFER, prefix="No problem. ")
        self.day, self.offered = None, None
        return self._ask(Step.DAY, prefix="No problem. That was the last free time that day. ")

    # ------------------------------------------------------------ the diary

    async def _then(self, reply: _Reply, after: AsyncGenerator[BrainEvent, None]) -> AsyncGenerator[BrainEvent, None]:
        async for event in _speak(reply):
            yield event
        async for event in after:
            yield event

    async def _search(self) -> AsyncGenerator[BrainEvent, None]:
        if self._lookup is None:
            self._searches += 1
            arguments = {
                "date_of_birth": self.birth_date.isoformat() if self.birth_date else "",
                "day": self.day.isoformat() if self.day else "",
            }
            yield ToolCallRequested(
                call_id=f"{self.call_id}:{FIND_SLOTS_TOOL}:{self._searches}", name=FIND_SLOTS_TOOL, arguments=arguments
            )
            # Owned by the brain, not by this iteration: a barge-in must not lose the result.
            self._lookup = asyncio.ensure_future(self._tools.run(FIND_SLOTS_TOOL, arguments))
        result = await _result_of(self._lookup)
        self._lookup = None
        async for event in _speak(self._after_search(result)):
            yield event

    def _after_search(self, result: Mapping[str, Any]) -> _Reply:
        if "error" in result or "slots" not in result:
            return self._transfer(
                "I'm sorry, I can't look at the diary just now. Let me transfer you to reception.",
                "appointment lookup failed",
            )
        if not result.get("patient_found"):
            self._birth_date_attempts += 1
            if self._birth_date_attempts >= self._max_birth_date_attempts:
                return self._transfer(
                    "I'm sorry, I can't find your record. Let me transfer you to reception.", "patient not found"
                )
            said = _say_date(self.birth_date) if self.birth_date else "that date"
            self.birth_date = None
            return self._ask(Step.BIRTH_DATE, prefix=f"I'm sorry, I can't find a patient born on {said}. ")
        self.patient_name = str(result.get("patient_name") or "")
        self.slots = [str(slot) for slot in result.get("slots") or []]
        if not self.slots:
            said = say_day(self.day or self._today)
            self.day = None
            return self._ask(Step.DAY, prefix=f"I'm sorry, there are no free appointments on {said}. ")
        self.offered = self.slots[0]
        first = self.patient_name.split()[0] if self.patient_name else ""
        return self._ask(Step.OFFER, prefix=f"Thanks{', ' + first if first else ''}, I've found your record. ")

    async def _book(self) -> AsyncGenerator[BrainEvent, None]:
        if self._booking is None:
            self._booking_attempts += 1
            arguments = {
                "date_of_birth": self.birth_date.isoformat() if self.birth_date else "",
                "day": self.day.isoformat() if self.day else "",
                "time": self.offered or "",
            }
            yield ToolCallRequested(
                call_id=f"{self.call_id}:{BOOK_APPOINTMENT_TOOL}:{self._booking_attempts}",
                name=BOOK_APPOINTMENT_TOOL,
                arguments=arguments,
            )
            # Owned by the brain: a barge-in must neither cancel nor repeat the booking.
            self._booking = asyncio.ensure_future(self._tools.run(BOOK_APPOINTMENT_TOOL, arguments))
        result = await _result_of(self._booking)
        if result.get("confirmation_code"):
            self.booking = result
            async for event in _speak(self._goodbye(repeat=False)):
                yield event
            return
        self._booking = None  # not booked: another attempt may be made
        if self._booking_attempts >= self._max_booking_attempts:
            reply = self._transfer(
                "I'm sorry, I couldn't book the appointment just now. Let me transfer you to reception.",
                "booking failed",
            )
            async for event in _speak(reply):
                yield event
            return
        # Most likely somebody else has just taken that time: look the day up again.
        self.step = Step.SEARCHING
        async for event in _speak(_Reply("I'm sorry, I couldn't book that time. Let me check the diary again.")):
            yield event
        async for event in self._search():
            yield event

    def _goodbye(self, *, repeat: bool) -> _Reply:
        self.step = Step.DONE
        if self.booking is None:
            return _Reply("Thank you for calling. Goodbye.", [EndCallRequested(reason="completed")])
        booked_day = _parse_day(self.booking.get("day")) or self.day or self._today
        booked_time = str(self.booking.get("time") or self.offered or "")
        code = grammars.spoken_digits(str(self.booking["confirmation_code"]))
        text = (
            f"You're booked for {say_time(booked_time)} on {say_day(booked_day)}. "
            f"Your confirmation code is {code}. I'll say that again: {code}. "
            "Thank you for calling, goodbye."
        )
        if repeat:
            text = f"Sure. {text}"
        self._last_prompt = text
        return _Reply(text, [EndCallRequested(reason="appointment booked")])


async def _result_of(task: asyncio.Future[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The tool's result; a cancelled answer leaves the task running (shield), a failure is {}."""
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        raise
    except Exception:
        return {}


def _said(text: str, phrases: Sequence[str]) -> bool:
    words = re.findall(r"[a-z']+", text.lower())
    padded = f" {' '.join(words)} "
    return any(f" {phrase} " in padded for phrase in phrases)


def _parse_day(value: object) -> date | None:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None
