"""The offline brain of the outbound claim follow-up call (agent `claims-follow-up`).

The call is placed by the claim's follow-up workflow while its documents are missing. The brain
says who is calling and which claim it is about (the claim id is read from the call's correlation
id, `follow_up_correlation_id`), which documents are missing, and asks whether the claimant can send
them. Yes: how to send them, then goodbye. No, or a question: it offers a person (a transfer to the
claims agents), and without one says goodbye. "Repeat that" repeats the last thing asked; asking for
a person transfers at once. A yes or no said over a question the callee never heard is not taken.

Same inputs (call id, texts, history) give the same outputs.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from enum import Enum
from functools import cache

from realtime.engines import grammars
from realtime.engines.base import (
    BrainContext,
    BrainEvent,
    ConversationTurn,
    EndCallRequested,
    Grammar,
    ToolRunner,
    TransferRequested,
)
from realtime.engines.scripted_brain import DEFAULT_TRANSFER_TARGET, _Reply, _speak, question_heard
from workflows.contracts import CLAIM_DOCUMENTS, claim_id_of_follow_up

# Said instead of yes or no: a question, which a person answers better.
QUESTION_PHRASES = ("i have a question", "a question", "why", "what documents", "which documents", "what for")
HOW_PHRASES = ("how do i send them", "how can i send them", "how")


class Step(Enum):
    CAN_SEND = "can_send"
    OFFER_PERSON = "offer_person"
    DONE = "done"


QUESTIONS: dict[Step, str] = {
    Step.CAN_SEND: "Can you send them to us?",
    Step.OFFER_PERSON: "Would you like me to connect you to a claims agent who can help?",
}


@cache
def _grammar(step: Step) -> Grammar | None:
    if step is Step.DONE:
        return None
    phrases = grammars.YES_PHRASES + grammars.NO_PHRASES + QUESTION_PHRASES + HOW_PHRASES
    return grammars.phrase_grammar("follow_up_answer", phrases)


def _listed(items: Sequence[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


class FollowUpBrain:
    """`Brain` for one outbound follow-up call. Options: `documents` still missing (default: every
    document a claim needs, `CLAIM_DOCUMENTS`), `max_reprompts`, `transfer_target`, `company`."""

    def __init__(
        self,
        *,
        call_id: str,
        agent: str,
        tools: ToolRunner,
        documents: Sequence[str] = CLAIM_DOCUMENTS,
        max_reprompts: int = 2,
        transfer_target: str = DEFAULT_TRANSFER_TARGET,
        company: str = "Switchboard Insurance",
    ) -> None:
        self.call_id = call_id
        self.agent = agent
        self.claim_id = claim_id_of_follow_up(call_id)
        self.documents = tuple(documents)
        self._max_reprompts = max_reprompts
        self._transfer_target = transfer_target
        self._company = company
        self.step = Step.CAN_SEND
        self._question = QUESTIONS[Step.CAN_SEND]
        self._last_prompt = self._question
        self._reprompts = 0
        self._resume: Step | None = None

    # ------------------------------------------------------------ Brain

    def expected_grammar(self) -> Grammar | None:
        return _grammar(self.step)

    def greet(self, context: BrainContext) -> AsyncGenerator[BrainEvent, None]:
        claim = f"your claim, number {grammars.spoken_digits(self.claim_id)}" if self.claim_id else "your open claim"
        text = (
            f"Hello, this is {self._company} calling about {claim}. "
            f"To process it, we still need {_listed(self.documents)}. "
            f"If you'd like to speak to a person, just say agent. {QUESTIONS[Step.CAN_SEND]}"
        )
        self.step = Step.CAN_SEND
        self._question = QUESTIONS[Step.CAN_SEND]
        self._last_prompt = text
        return _speak(_Reply(text))

    def respond(self, caller_text: str, context: BrainContext) -> AsyncGenerator[BrainEvent, None]:
        return _speak(self._decide(caller_text.strip(), context.history))

    def transfer_refused(self, detail: str) -> AsyncGenerator[BrainEvent, None]:
        """No claims agent took the call: back to the documents, or goodbye if a person was all they wanted."""
        step, self._resume = self._resume, None
        if step is not Step.CAN_SEND:
            return _speak(
                self._end(
                    "I'm sorry, no claims agent is available right now. Please call us back when it suits you. "
                    f"{self._how_to_send()} Goodbye.",
                    "transfer failed",
                )
            )
        self._reprompts = 0
        return _speak(self._ask(Step.CAN_SEND, prefix="I'm sorry, I couldn't reach a claims agent just now. "))

    # ------------------------------------------------------------ deciding

    def _decide(self, text: str, history: Sequence[ConversationTurn]) -> _Reply:
        if self.step is Step.DONE:
            if text and grammars.is_repeat_request(text):
                return _Reply(f"Sure. {self._last_prompt}")
            return _Reply("Please hold on a moment." if self._resume is not None else "Goodbye.")
        if text and grammars.is_human_request(text):
            return self._transfer("Of course. I'll connect you to a claims agent now.", "callee asked for a person")
        if text and grammars.is_repeat_request(text):
            return _Reply(f"Sure. {self._last_prompt}")
        heard = question_heard(self._question, history)
        if not heard:
            # The callee spoke over a question they never heard: do not take it as the answer.
            return self._ask(self.step, prefix="Sorry, go ahead. ")
        if not text:
            self._reprompts += 1
            if self._reprompts > self._max_reprompts:
                return self._end("I'm sorry, I can't hear you. We'll be in touch again. Goodbye.", "no answer")
            return _Reply(f"Sorry, I didn't catch that. {self._question}")
        if self.step is Step.CAN_SEND:
            return self._on_can_send(text)
        return self._on_offer(text)

    def _on_can_send(self, text: str) -> _Reply:
        asks = _said(text, QUESTION_PHRASES)
        if not asks and (grammars.normalize_yes_no(text) is True or _said(text, HOW_PHRASES)):
            return self._end(
                f"Thank you. {self._how_to_send()} Thank you for your time, goodbye.", "documents promised"
            )
        # No, or a question: a person can help with that.
        self._reprompts = 0
        return self._ask(Step.OFFER_PERSON, prefix="No problem. ")

    def _on_offer(self, text: str) -> _Reply:
        match grammars.normalize_yes_no(text):
            case True:
                return self._transfer("Of course. I'll connect you to a claims agent now.", "callee has questions")
            case False:
                return self._end(f"All right. {self._how_to_send()} Thank you for your time, goodbye.", "completed")
            case _:
                self._reprompts += 1
                if self._reprompts > self._max_reprompts:
                    return self._transfer("Let me connect you to a claims agent.", "too many unrecognised answers")
                return _Reply(f"Sorry, I didn't understand that. {self._question}")

    def _how_to_send(self) -> str:
        claim = f", with your claim number, {grammars.spoken_digits(self.claim_id)}," if self.claim_id else ""
        return (
            "You can upload the documents in the claims section of our website, or email them to claims at "
            f"switchboard insurance dot com{claim} in the subject line."
        )

    # ------------------------------------------------------------ steps

    def _ask(self, step: Step, *, prefix: str = "") -> _Reply:
        self.step = step
        self._question = QUESTIONS[step]
        self._last_prompt = self._question
        return _Reply(f"{prefix}{self._question}")

    def _end(self, text: str, reason: str) -> _Reply:
        self.step = Step.DONE
        self._last_prompt = text
        return _Reply(text, [EndCallRequested(reason=reason)])

    def _transfer(self, text: str, reason: str) -> _Reply:
        self._resume = self.step
        self.step = Step.DONE
        self._last_prompt = text
        return _Reply(text, [TransferRequested(target=self._transfer_target, reason=reason)])


def _said(text: str, phrases: Sequence[str]) -> bool:
    words = " ".join("".join(ch if ch.isalpha() or ch == "'" else " " for ch in text.lower()).split())
    return any(f" {phrase} " in f" {words} " for phrase in phrases)
