"""The scripted FNOL brain runs a whole intake deterministically, files exactly one claim, re-asks on
invalid answers, transfers on request, and survives barge-in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import date
from typing import Any

import pytest

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
from realtime.engines.scripted_appointments import AppointmentsBrain
from realtime.engines.scripted_brain import (
    AuthenticationBrain,
    ScriptedBrain,
    ScriptedBrainFactory,
    Step,
    SupportBrain,
)
from realtime.engines.scripted_follow_up import FollowUpBrain

TODAY = date(2026, 3, 10)
ANSWERS = [
    "my name is Jane Doe",
    "p a one two three four five six",
    "march third",
    "on main street in springfield",
    "a truck ran a red light and hit my car",
    "nobody was hurt",
    "an s u v",
    "yes",
]


class RecordingTools:
    def __init__(self, result: Mapping[str, Any] | None = None, delay: float = 0.0) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._result = result if result is not None else {"claim_id": "CLM42"}
        self._delay = delay

    async def run(self, name: str, arguments: Mapping[str, Any]) -> Mapping[str, Any]:
        self.calls.append((name, dict(arguments)))
        await asyncio.sleep(self._delay)
        return self._result


def new_brain(tools: RecordingTools) -> ScriptedBrain:
    brain = ScriptedBrainFactory(today=TODAY).new_brain(call_id="call-1", agent="fnol", tools=tools)
    assert isinstance(brain, ScriptedBrain)
    return brain


CTX = BrainContext(call_id="call-1", agent="fnol")


async def collect(events: AsyncIterator[BrainEvent]) -> list[BrainEvent]:
    return [e async for e in events]


def text(events: list[BrainEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def run_dialogue(answers: list[str]) -> tuple[list[list[BrainEvent]], RecordingTools]:
    tools = RecordingTools()
    brain = new_brain(tools)
    transcript = [await collect(brain.greet(CTX))]
    for answer in answers:
        transcript.append(await collect(brain.respond(answer, CTX)))
    return transcript, tools


async def test_whole_fnol_dialogue_files_one_claim_and_ends_the_call() -> None:
    transcript, tools = await run_dialogue(ANSWERS)
    assert tools.calls == [
        (
            "file_claim",
            {
                "call_id": "call-1",
                "caller_name": "Jane Doe",
                "policy_number": "PA123456",
                "date_of_loss": "2026-03-03",
                "location": "main street in springfield",
                "description": "a truck ran a red light and hit my car",
                "injuries": False,
                "vehicle_type": "suv",
            },
        )
    ]
    last = transcript[-1]
    assert [type(e) for e in last if not isinstance(e, TextDelta)] == [ToolCallRequested, EndCallRequested]
    assert "C L M 4 2" in text(last)
    assert "Is that all correct?" in text(transcript[-2])


async def test_same_answers_give_the_same_dialogue() -> None:
    first, _ = await run_dialogue(ANSWERS)
    second, _ = await run_dialogue(ANSWERS)
    assert first == second


async def test_answers_stream_as_clause_sized_pieces() -> None:
    greeting = (await run_dialogue([]))[0][0]
    pieces = [e.text for e in greeting if isinstance(e, TextDelta)]
    assert len(pieces) >= 3
    assert all(p.endswith(" ") for p in pieces)


async def test_each_question_comes_with_its_grammar() -> None:
    brain = new_brain(RecordingTools())
    names = []
    await collect(brain.greet(CTX))
    for answer in ANSWERS[:-1]:
        names.append(g.name if (g := brain.expected_grammar()) else None)
        await collect(brain.respond(answer, CTX))
    names.append(g.name if (g := brain.expected_grammar()) else None)
    assert names == [None, "digits", "date", None, None, "injury", "vehicle", "yes_no"]


async def test_invalid_policy_number_is_asked_again_then_transferred_after_the_limit() -> None:
    tools = RecordingTools()
    brain = new_brain(tools)
    await collect(brain.greet(CTX))
    await collect(brain.respond("Jane Doe", CTX))
    again = await collect(brain.respond("p a one two three", CTX))
    assert "doesn't look like a valid policy number" in text(again)
    assert brain.expected_grammar().name == "digits"  # type: ignore[union-attr]
    await collect(brain.respond("one two", CTX))
    final = await collect(brain.respond("nine nine", CTX))
    assert isinstance(final[-1], TransferRequested)
    assert tools.calls == []


async def test_asking_for_an_agent_transfers_the_call() -> None:
    brain = new_brain(RecordingTools())
    await collect(brain.greet(CTX))
    events = await collect(brain.respond("agent please", CTX))
    assert events[-1] == TransferRequested(target="claims-agents", reason="caller asked for a person")


async def test_repeat_that_repeats_the_last_question() -> None:
    brain = new_brain(RecordingTools())
    await collect(brain.greet(CTX))
    await collect(brain.respond("Jane Doe", CTX))
    repeated = await collect(brain.respond("could you repeat that", CTX))
    assert "What is your policy number?" in text(repeated)
    assert brain.step is Step.POLICY


async def test_empty_and_nonsense_answers_are_reprompted_up_to_a_limit() -> None:
    brain = new_brain(RecordingTools())
    await collect(brain.greet(CTX))
    await collect(brain.respond("Jane Doe", CTX))
    await collect(brain.respond("p a one two three four five six", CTX))
    first = await collect(brain.respond("", CTX))
    assert "didn't catch that" in text(first)
    second = await collect(brain.respond("banana", CTX))
    assert "On what date" in text(second)
    third = await collect(brain.respond("", CTX))
    assert isinstance(third[-1], TransferRequested)


async def test_saying_no_at_the_confirmation_corrects_one_detail() -> None:
    tools = RecordingTools()
    brain = new_brain(tools)
    await collect(brain.greet(CTX))
    for answer in ANSWERS[:-1]:
        await collect(brain.respond(answer, CTX))
    await collect(brain.respond("no", CTX))
    await collect(brain.respond("the date", CTX))
    summary = await collect(brain.respond("yesterday", CTX))
    assert "March 9, 2026" in text(summary) and "Is that all correct?" in text(summary)
    await collect(brain.respond("yes", CTX))
    assert tools.calls[0][1]["date_of_loss"] == "2026-03-09"


async def test_interrupted_answer_leaves_the_brain_usable() -> None:
    brain = new_brain(RecordingTools())
    await collect(brain.greet(CTX))
    stream = brain.respond("Jane Doe", CTX)
    first = await anext(stream)
    await stream.aclose()  # barge-in after the first clause
    heard = ConversationTurn(role="agent", text=first.text, interrupted=True)  # type: ignore[union-attr]
    ctx = BrainContext(call_id="call-1", agent="fnol", history=(heard,))
    events = await collect(brain.respond("p a one two three four five six", ctx))
    assert "P A 1 2 3 4 5 6" in text(events)


async def test_a_free_form_answer_to_an_unheard_question_is_not_taken() -> None:
    brain = new_brain(RecordingTools())
    stream = brain.greet(CTX)
    first = await anext(stream)
    await stream.aclose()
    ctx = BrainContext(
        call_id="call-1",
        agent="fnol",
        history=(ConversationTurn("agent", first.text, True),),  # type: ignore[union-attr]
    )
    events = await collect(brain.respond("hello?", ctx))
    assert "May I have your full name" in text(events)
    assert brain.claim.caller_name is None


async def test_barge_in_while_filing_neither_loses_nor_duplicates_the_claim() -> None:
    tools = RecordingTools(delay=0.05)
    brain = new_brain(tools)
    await collect(brain.greet(CTX))
    for answer in ANSWERS[:-1]:
        await collect(brain.respond(answer, CTX))

    async def consume() -> None:
        await collect(brain.respond("yes", CTX))

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.01)  # the tool is running
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    events = await collect(brain.respond("hello?", CTX))
    assert "C L M 4 2" in text(events) and isinstance(events[-1], EndCallRequested)
    assert len(tools.calls) == 1


async def test_failed_filing_transfers_to_a_person() -> None:
    tools = RecordingTools(result={"error": "claims system down"})
    brain = new_brain(tools)
    await collect(brain.greet(CTX))
    for answer in ANSWERS[:-1]:
        await collect(brain.respond(answer, CTX))
    events = await collect(brain.respond("yes", CTX))
    assert isinstance(events[-1], TransferRequested)


VERIFIED = {"verified": True, "policy_number": "PA123456", "holder_name": "Jane Doe", "reason": ""}


async def test_authentication_verifies_then_hands_off_and_intake_skips_what_it_knows() -> None:
    factory = ScriptedBrainFactory(today=TODAY)
    auth_tools = RecordingTools(result=VERIFIED)
    auth = factory.new_brain(call_id="call-1", agent="authentication", tools=auth_tools)
    assert isinstance(auth, AuthenticationBrain)
    assert "verify your identity" in text(await collect(auth.greet(CTX)))
    assert auth.expected_grammar() is not None
    assert "postcode" in text(await collect(auth.respond("p a one two three four five six", CTX)))
    verified = await collect(auth.respond("six two seven zero four", CTX))
    assert auth_tools.calls == [("verify_identity", {"policy_number": "PA123456", "postcode": "62704"})]
    assert "you're verified" in text(verified)
    assert [e for e in verified if isinstance(e, HandoffRequested)] == [
        HandoffRequested(target_agent="default", reason="caller verified")
    ]

    tools = RecordingTools()
    intake = factory.new_brain(call_id="call-1", agent="default", tools=tools)
    assert isinstance(intake, ScriptedBrain)
    greeting = text(await collect(intake.greet(CTX)))
    assert greeting.startswith("Claims intake here.") and "what date" in greeting
    for answer in ANSWERS[2:]:
        await collect(intake.respond(answer, CTX))
    assert [name for name, _ in tools.calls] == ["file_claim"]
    assert tools.calls[0][1]["caller_name"] == "Jane Doe" and tools.calls[0][1]["policy_number"] == "PA123456"


async def test_details_that_do_not_match_are_asked_again_then_transferred() -> None:
    tools = RecordingTools(result={"verified": False, "reason": "postcode does not match"})
    auth = ScriptedBrainFactory().new_brain(call_id="c", agent="authentication", tools=tools)
    await collect(auth.greet(CTX))
    await collect(auth.respond("p a one two three four five six", CTX))
    again = await collect(auth.respond("one one one one one", CTX))
    assert "don't match" in text(again) and "policy number" in text(again)
    await collect(auth.respond("p a one two three four five six", CTX))
    last = await collect(auth.respond("one one one one one", CTX))
    assert any(isinstance(e, TransferRequested) for e in last)
    assert len(tools.calls) == 2


async def test_a_refused_transfer_is_said_and_the_intake_goes_on() -> None:
    brain = new_brain(RecordingTools())
    await collect(brain.greet(CTX))
    await collect(brain.respond("my name is Jane Doe", CTX))
    transfer = await collect(brain.respond("agent please", CTX))
    assert any(isinstance(e, TransferRequested) for e in transfer)
    resumed = text(await collect(brain.transfer_refused("no agent available")))
    assert "couldn't reach a person" in resumed and "policy number" in resumed
    assert brain.step is Step.POLICY


@pytest.mark.parametrize(
    ("agent", "brain_type"),
    [
        ("authentication", AuthenticationBrain),
        ("support", SupportBrain),
        ("appointments", AppointmentsBrain),
        ("claims-follow-up", FollowUpBrain),
        ("default", ScriptedBrain),
        ("claims-specialist", ScriptedBrain),
    ],
)
def test_the_factory_picks_the_brain_by_agent(agent: str, brain_type: type) -> None:
    brain = ScriptedBrainFactory(today=TODAY).new_brain(call_id="call-1", agent=agent, tools=RecordingTools())
    assert type(brain) is brain_type and brain.agent == agent
