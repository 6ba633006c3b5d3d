"""The scripted outbound claim follow-up brain names the claim (from the call's correlation id) and
the missing documents, explains how to send them on "yes", offers a claims agent on "no" or a
question, repeats on request, and transfers when asked for a person."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from realtime.engines.base import (
    BrainContext,
    BrainEvent,
    ConversationTurn,
    EndCallRequested,
    TextDelta,
    TransferRequested,
)
from realtime.engines.scripted_brain import ScriptedBrainFactory
from realtime.engines.scripted_follow_up import FollowUpBrain, Step
from workflows.contracts import claim_id_of_follow_up, follow_up_correlation_id

CALL_ID = follow_up_correlation_id("CLM-12345678", 1)
CTX = BrainContext(call_id=CALL_ID, agent="claims-follow-up")
SPOKEN_CLAIM = "C L M 1 2 3 4 5 6 7 8"


class NoTools:
    async def run(self, name: str, arguments: Mapping[str, Any]) -> Mapping[str, Any]:
        raise AssertionError(f"the follow-up brain runs no tools ({name})")


def new_brain(call_id: str = CALL_ID) -> FollowUpBrain:
    brain = ScriptedBrainFactory().new_brain(call_id=call_id, agent="claims-follow-up", tools=NoTools())
    assert isinstance(brain, FollowUpBrain)
    return brain


async def collect(events: AsyncIterator[BrainEvent]) -> list[BrainEvent]:
    return [e async for e in events]


def text(events: list[BrainEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def actions(events: list[BrainEvent]) -> list[BrainEvent]:
    return [e for e in events if not isinstance(e, TextDelta)]


async def dialogue(answers: list[str], call_id: str = CALL_ID) -> tuple[FollowUpBrain, list[list[BrainEvent]]]:
    brain = new_brain(call_id)
    transcript = [await collect(brain.greet(CTX))]
    for answer in answers:
        transcript.append(await collect(brain.respond(answer, CTX)))
    return brain, transcript


@pytest.mark.parametrize(
    ("correlation_id", "claim_id"),
    [
        (follow_up_correlation_id("CLM-12345678", 2), "CLM-12345678"),
        (follow_up_correlation_id("CLM-T1234567", 12), "CLM-T1234567"),
        ("3f2a9c1e-inbound", None),
        ("follow-up-CLM-1-x", None),
    ],
)
def test_the_claim_is_read_back_from_the_follow_up_correlation_id(correlation_id: str, claim_id: str | None) -> None:
    assert claim_id_of_follow_up(correlation_id) == claim_id


async def test_the_greeting_names_the_caller_the_claim_and_the_missing_documents() -> None:
    brain, [greeting] = await dialogue([])
    said = text(greeting)
    assert said.startswith("Hello, this is Switchboard Insurance calling about your claim")
    assert SPOKEN_CLAIM in said
    assert "photos of the damage and a repair estimate" in said
    assert said.endswith("Can you send them to us? ")
    assert actions(greeting) == []
    assert brain.expected_grammar() is not None and brain.expected_grammar().name == "follow_up_answer"  # type: ignore[union-attr]


async def test_yes_explains_how_to_send_them_and_says_goodbye() -> None:
    brain, transcript = await dialogue(["yes"])
    said = text(transcript[-1])
    assert "upload the documents" in said and SPOKEN_CLAIM in said and "goodbye" in said
    assert actions(transcript[-1]) == [EndCallRequested(reason="documents promised")]
    assert brain.step is Step.DONE and brain.expected_grammar() is None


async def test_no_offers_a_claims_agent_who_takes_the_call_on_yes() -> None:
    _, transcript = await dialogue(["no", "yes please"])
    assert "connect you to a claims agent" in text(transcript[1]) and actions(transcript[1]) == []
    assert actions(transcript[2]) == [TransferRequested(target="claims-agents", reason="callee has questions")]


async def test_no_person_wanted_ends_with_how_to_send_them() -> None:
    _, transcript = await dialogue(["no", "no thanks"])
    assert "upload the documents" in text(transcript[-1])
    assert actions(transcript[-1]) == [EndCallRequested(reason="completed")]


async def test_a_question_is_offered_a_person() -> None:
    _, transcript = await dialogue(["yes but i have a question"])
    assert "Would you like me to connect you to a claims agent" in text(transcript[-1])


async def test_repeat_that_repeats_and_agent_transfers() -> None:
    brain, transcript = await dialogue(["repeat that", "agent"])
    repeated = text(transcript[1])
    assert repeated.startswith("Sure.") and SPOKEN_CLAIM in repeated and "repair estimate" in repeated
    assert actions(transcript[2]) == [TransferRequested(target="claims-agents", reason="callee asked for a person")]
    resumed = text(await collect(brain.transfer_refused("no agent available")))
    assert "couldn't reach a claims agent" in resumed and "Can you send them" in resumed
    assert brain.step is Step.CAN_SEND


async def test_a_refused_transfer_after_asking_for_one_says_goodbye() -> None:
    brain, _ = await dialogue(["no", "yes"])
    events = await collect(brain.transfer_refused("no agent available"))
    assert "no claims agent is available" in text(events)
    assert actions(events) == [EndCallRequested(reason="transfer failed")]


async def test_an_answer_over_an_unheard_question_is_not_taken() -> None:
    brain = new_brain()
    stream = brain.greet(CTX)
    first = await anext(stream)
    await stream.aclose()
    assert isinstance(first, TextDelta)
    ctx = BrainContext(
        call_id=CALL_ID, agent="claims-follow-up", history=(ConversationTurn("agent", first.text, True),)
    )
    events = await collect(brain.respond("no", ctx))
    assert text(events) == "Sorry, go ahead. Can you send them to us? " and brain.step is Step.CAN_SEND


async def test_silence_is_asked_again_then_the_call_ends() -> None:
    _, transcript = await dialogue(["", "", ""])
    assert "didn't catch that" in text(transcript[1])
    assert actions(transcript[-1]) == [EndCallRequested(reason="no answer")]


async def test_without_a_claim_in_the_call_id_it_speaks_of_the_open_claim() -> None:
    _, [greeting] = await dialogue([], call_id="some-other-call")
    assert "your open claim" in text(greeting) and "C L M" not in text(greeting)
