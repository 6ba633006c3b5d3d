"""The offline brain: a deterministic first-notice-of-loss (FNOL) intake, as a directed dialogue.

It asks for the caller's name, policy number, date of loss, location, what happened, injuries and
vehicle type, reads the details back for confirmation, files the claim through the `file_claim`
tool, reads the claim number back and ends the call. Each directed question comes with a recognition
grammar (`expected_grammar`). Everywhere, "repeat that" repeats the last question and asking for a
person transfers the call.

Barge-in: the pipeline may cancel `greet`/`respond` mid-answer. The brain commits the caller's answer
before it speaks, so a cancelled answer leaves a consistent state; what the caller actually heard
comes from the context's history (the last agent turn, `interrupted=True`, holds only the heard
text). An answer to a question the caller never heard is not taken for free-form questions and for
the final confirmation. The claim is filed in a task the brain owns, so cancelling the answer that
files it neither loses nor duplicates the claim: the next answer picks up the result.

Same inputs (texts, history, tool results, `today`) give the same outputs.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any

from realtime.engines import grammars
from realtime.engines.base import (
    BrainContext,
    BrainEvent,
    ConversationTurn,
    EndCallRequested,
    Grammar,
    HandoffRequested,
    TextDelta,
    ToolCallRequested,
    ToolRunner,
    TransferRequested,
)

if TYPE_CHECKING:
    from realtime.engines.scripted_appointments import AppointmentsBrain
    from realtime.engines.scripted_follow_up import FollowUpBrain

DEFAULT_TRANSFER_TARGET = "claims-agents"
FILE_CLAIM_TOOL = "file_claim"
VERIFY_IDENTITY_TOOL = "verify_identity"
AUTHENTICATION_AGENT = "authentication"
APPOINTMENTS_AGENT = "appointments"
FOLLOW_UP_AGENT = "claims-follow-up"
INTAKE_AGENT = "default"
SUPPORT_AGENT = "support"

_CLAUSE_END = re.compile(r"(?<=[.,;:!?])\s+")


class Step(Enum):
    NAME = "name"
    POLICY = "policy_number"
    DATE = "date_of_loss"
    LOCATION = "location"
    DESCRIPTION = "description"
    INJURIES = "injuries"
    VEHICLE = "vehicle_type"
    CONFIRM = "confirm"
    CORRECT = "correct"
    FILING = "filing"
    DONE = "done"


QUESTIONS: dict[Step, str] = {
    Step.NAME: "May I have your full name, please?",
    Step.POLICY: "What is your policy number? It is two letters followed by six digits.",
    Step.DATE: "On what date did the incident happen?",
    Step.LOCATION: "Where did it happen?",
    Step.DESCRIPTION: "Please tell me briefly what happened.",
    Step.INJURIES: "Was anyone injured?",
    Step.VEHICLE: "What type of vehicle were you driving? For example a car, an S U V, a truck or a motorcycle.",
    Step.CORRECT: "Which detail should I change? The name, the policy number, the date, the location, "
    "what happened, injuries, or the vehicle?",
}

FIELD_NAMES: dict[Step, tuple[str, ...]] = {
    Step.NAME: ("name", "the name", "my name"),
    Step.POLICY: ("policy number", "the policy number", "policy", "the policy"),
    Step.DATE: ("date", "the date"),
    Step.LOCATION: ("location", "the location", "place", "where"),
    Step.DESCRIPTION: ("what happened", "description", "the description"),
    Step.INJURIES: ("injuries", "the injuries", "injury"),
    Step.VEHICLE: ("vehicle", "the vehicle", "vehicle type", "car"),
}

_FREE_FORM = {Step.NAME, Step.LOCATION, Step.DESCRIPTION}


@cache
def _grammar(step: Step) -> Grammar | None:
    match step:
        case Step.POLICY:
            return grammars.digits_grammar()
        case Step.DATE:
            return grammars.date_grammar()
        case Step.INJURIES:
            return grammars.injury_grammar()
        case Step.VEHICLE:
            return grammars.vehicle_grammar()
        case Step.CONFIRM:
            return grammars.yes_no_grammar()
        case Step.CORRECT:
            return grammars.phrase_grammar("fnol_field", [p for ps in FIELD_NAMES.values() for p in ps])
        case _:
            return None


@dataclass
class Claim:
    caller_name: str | None = None
    policy_number: str | None = None
    date_of_loss: date | None = None
    location: str | None = None
    description: str | None = None
    injuries: bool | None = None
    vehicle_type: str | None = None

    def arguments(self, call_id: str) -> dict[str, Any]:
        return {
            "call_id": call_id,
            "caller_name": self.caller_name,
            "policy_number": self.policy_number,
            "date_of_loss": self.date_of_loss.isoformat() if self.date_of_loss else None,
            "location": self.location,
            "description": self.description,
            "injuries": self.injuries,
            "vehicle_type": self.vehicle_type,
        }


def _say_date(value: date) -> str:
    return f"{value:%B} {value.day}, {value.year}"


def _clauses(text: str) -> list[str]:
    """Split an utterance into clause-sized pieces, each ending with a space. A comma ends a
    clause only after three words or more ("March 3, 2026." stays whole)."""
    pieces: list[str] = []
    current = ""
    for part in _CLAUSE_END.split(text.strip()):
        current = f"{current} {part}" if current else part
        if not current.endswith(",") or len(current.split()) >= 3:
            pieces.append(current + " ")
            current = ""
    if current:
        pieces.append(current + " ")
    return pieces


def _with_article(vehicle: str) -> str:
    spoken = {"suv": "S U V"}.get(vehicle, vehicle)
    return f"an {spoken}" if spoken[0].lower() in "aeiou" or vehicle == "suv" else f"a {spoken}"


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def question_heard(question: str, history: Sequence[ConversationTurn]) -> bool:
    """Whether the caller heard (at least half of) `question`: the last agent turn was played whole,
    or its heard text ends in the question's first half or more."""
    last_agent = next((t for t in reversed(history) if t.role == "agent"), None)
    if last_agent is None or not last_agent.interrupted:
        return True
    asked = _words(question)
    heard = _words(last_agent.text)
    if not asked:
        return True
    # The heard text ends somewhere in the question: count how much of it came out.
    for n in range(len(asked), 0, -1):
        if heard[-n:] == asked[:n]:
            return n * 2 >= len(asked)
    return False


@dataclass
class _Reply:
    """What one answer says and does, decided before anything is spoken."""

    text: str
    events: list[BrainEvent] = field(default_factory=list)
    file_claim: bool = False


class ScriptedBrain:
    """`Brain` for one call. Options: `today` (reference for spoken dates; default the current date),
    `max_reprompts` per question before transferring, `max_policy_attempts` for invalid policy
    numbers, `transfer_target` for TransferRequested, `company` named in the greeting."""

    def __init__(
        self,
        *,
        call_id: str,
        agent: str,
        tools: ToolRunner,
        today: date | None = None,
        max_reprompts: int = 2,
        max_policy_attempts: int = 3,
        transfer_target: str = DEFAULT_TRANSFER_TARGET,
        company: str = "Switchboard Insurance",
        verified: Identity | None = None,
    ) -> None:
        self.call_id = call_id
        self.agent = agent
        self._tools = tools
        self._today = today or date.today()
        self._max_reprompts = max_reprompts
        self._max_policy_attempts = max_policy_attempts
        self._transfer_target = transfer_target
        self._company = company
        self.claim = Claim()
        self.step = Step.NAME
        self.claim_id: str | None = None
        self._correcting = False
        self._reprompts = 0
        self._policy_attempts = 0
        self._last_prompt = QUESTIONS[Step.NAME]
        self._question = QUESTIONS[Step.NAME]
        self._filing: asyncio.Future[Mapping[str, Any]] | None = None
        self._ended = False
        self._resume: Step | None = None
        self._verified = verified
        if verified is not None:  # handed over by authentication: name and policy are known
            self.claim.caller_name = verified.name
            self.claim.policy_number = verified.policy_number

    # ------------------------------------------------------------ Brain

    def expected_grammar(self) -> Grammar | None:
        return _grammar(self.step)

    def greet(self, context: BrainContext) -> AsyncGenerator[BrainEvent, None]:
        if self._verified is not None:
            # An announced handoff: a short line, then straight to the first question still open.
            return _speak(self._ask(Step.DATE, prefix="Claims intake here. "))
        text = (
            f"Thank you for calling {self._company} claims. I can help you report an accident. "
            f"If you need a person at any time, just say agent. {QUESTIONS[Step.NAME]}"
        )
        self.step = Step.NAME
        self._question = QUESTIONS[Step.NAME]
        self._last_prompt = text
        return _speak(_Reply(text))

    def respond(self, caller_text: str, context: BrainContext) -> AsyncGenerator[BrainEvent, None]:
        if self.step is Step.FILING:
            return self._after_filing()  # an earlier answer was cut off while filing
        reply = self._decide(caller_text.strip(), context.history)
        if reply.file_claim:
            return self._file_claim(reply)
        return _speak(reply)

    # ------------------------------------------------------------ deciding

    def _decide(self, text: str, history: Sequence[ConversationTurn]) -> _Reply:
        if self.step is Step.DONE:
            return self._goodbye(repeat=True)
        if text and grammars.is_human_request(text):
            return self._transfer("Of course. I'll transfer you to a claims agent now.", "caller asked for a person")
        if text and grammars.is_repeat_request(text):
            return _Reply(f"Sure. {self._last_prompt}")
        heard = self._question_heard(history)
        if not heard and (self.step in _FREE_FORM or self.step is Step.CONFIRM):
            # The caller spoke over a question they never heard: do not take it as the answer.
            return self._ask(self.step, prefix="Sorry, go ahead. ")
        if not text:
            return self._reprompt("Sorry, I didn't catch that.", count=heard)
        handler = {
            Step.NAME: self._on_name,
            Step.POLICY: self._on_policy,
            Step.DATE: self._on_date,
            Step.LOCATION: self._on_location,
            Step.DESCRIPTION: self._on_description,
            Step.INJURIES: self._on_injuries,
            Step.VEHICLE: self._on_vehicle,
            Step.CONFIRM: self._on_confirm,
            Step.CORRECT: self._on_correct,
        }[self.step]
        reply = handler(text)
        if reply is None:
            return self._reprompt("Sorry, I didn't understand that.", count=heard)
        return reply

    def _question_heard(self, history: Sequence[ConversationTurn]) -> bool:
        return question_heard(self._question, history)

    def _next(self, after: Step) -> Step:
        if self._correcting:
            return Step.CONFIRM
        order = [Step.NAME, Step.POLICY, Step.DATE, Step.LOCATION, Step.DESCRIPTION, Step.INJURIES, Step.VEHICLE]
        return order[order.index(after) + 1] if after is not Step.VEHICLE else Step.CONFIRM

    def _advance(self, after: Step, ack: str) -> _Reply:
        self._reprompts = 0
        return self._ask(self._next(after), prefix=ack)

    def _ask(self, step: Step, *, prefix: str = "") -> _Reply:
        self.step = step
        if step is Step.CONFIRM:
            self._correcting = False
            question = self._summary()
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
                "I'm sorry, I'm having trouble understanding. Let me transfer you to a claims agent.",
                "too many unrecognised answers",
            )
        return _Reply(f"{apology} {self._question}")

    def transfer_refused(self, detail: str) -> AsyncGenerator[BrainEvent, None]:
        """The transfer did not happen: say so and pick the conversation up where it was."""
        step, self._resume = self._resume, None
        if step is None or step in (Step.FILING, Step.DONE):
            self.step = Step.DONE
            return _speak(
                _Reply(
                    "I'm sorry, nobody is available to take your call right now. Please call back later. Goodbye.",
                    [EndCallRequested(reason="transfer failed")],
                )
            )
        self._ended = False
        self._reprompts = 0
        return _speak(self._ask(step, prefix="I'm sorry, I couldn't reach a person just now. Let's carry on. "))

    def _transfer(self, text: str, reason: str) -> _Reply:
        self._resume = self.step
        self.step = Step.DONE
        self._ended = True
        self._last_prompt = text
        return _Reply(text, [TransferRequested(target=self._transfer_target, reason=reason)])

    def _summary(self) -> str:
        c = self.claim
        injuries = "someone was injured" if c.injuries else "nobody was injured"
        when = _say_date(c.date_of_loss) if c.date_of_loss else "an unknown date"
        vehicle = _with_article(c.vehicle_type or "vehicle")
        return (
            f"Let me read that back. Your name is {c.caller_name}, policy number "
            f"{grammars.spoken_digits(c.policy_number or '')}. On {when}, at {c.location}, "
            f"{c.description}. You said {injuries}, and the vehicle was {vehicle}. "
            "Is that all correct?"
        )

    # ------------------------------------------------------------ answers

    def _on_name(self, text: str) -> _Reply:
        name = re.sub(r"^(my name is|my name's|this is|it's|it is|i am|i'm)\s+", "", text, flags=re.I)
        self.claim.caller_name = name.strip(" .,!?") or text
        return self._advance(Step.NAME, f"Thank you, {self.claim.caller_name}. ")

    def _on_policy(self, text: str) -> _Reply | None:
        value = grammars.normalize_policy_number(text)
        if value is None:
            if not grammars.normalize_digits(text):
                return None  # not a number at all: an ordinary reprompt
            self._policy_attempts += 1
            if self._policy_attempts >= self._max_policy_attempts:
                return self._transfer(
                    "I'm sorry, I can't match that policy number. Let me transfer you to a claims agent.",
                    "invalid policy number",
                )
            return _Reply(
                "That doesn't look like a valid policy number. It should be two letters followed by six "
                f"digits, like P A 1 2 3 4 5 6. {QUESTIONS[Step.POLICY]}"
            )
        self.claim.policy_number = value
        return self._advance(Step.POLICY, f"Thanks, I have {grammars.spoken_digits(value)}. ")

    def _on_date(self, text: str) -> _Reply | None:
        value = grammars.normalize_date(text, today=self._today)
        if value is None:
            return None
        self.claim.date_of_loss = value
        return self._advance(Step.DATE, f"{_say_date(value)}. ")

    def _on_location(self, text: str) -> _Reply:
        location = re.sub(r"^(it was |it happened |it's )?(on|at|in|near)\s+", "", text, flags=re.I)
        self.claim.location = location.strip(" .!?") or text
        return self._advance(Step.LOCATION, "Got it. ")

    def _on_description(self, text: str) -> _Reply:
        self.claim.description = text.strip(" .!?")
        return self._advance(Step.DESCRIPTION, "I'm sorry to hear that. ")

    def _on_injuries(self, text: str) -> _Reply | None:
        value = grammars.normalize_injury(text)
        if value is None:
            return None
        self.claim.injuries = value
        ack = "I'm sorry someone was hurt. I'll note that. " if value else "Good, I'm glad nobody was hurt. "
        return self._advance(Step.INJURIES, ack)

    def _on_vehicle(self, text: str) -> _Reply | None:
        value = grammars.normalize_vehicle(text)
        if value is None:
            return None
        self.claim.vehicle_type = value
        return self._advance(Step.VEHICLE, "Thank you. ")

    def _on_confirm(self, text: str) -> _Reply | None:
        value = grammars.normalize_yes_no(text)
        if value is None:
            return None
        if not value:
            self._reprompts = 0
            return self._ask(Step.CORRECT, prefix="Sorry about that. ")
        self.step = Step.FILING
        return _Reply("Thank you. I'm filing your claim now.", file_claim=True)

    def _on_correct(self, text: str) -> _Reply | None:
        words = f" {' '.join(_words(text))} "
        best: tuple[int, Step] | None = None
        for step, names in FIELD_NAMES.items():
            for name in names:
                if f" {name} " in words and (best is None or len(name) > best[0]):
                    best = (len(name), step)
        if best is None:
            return None
        self._reprompts = 0
        self._correcting = True
        return self._ask(best[1], prefix="Okay. ")

    # ------------------------------------------------------------ filing

    async def _file_claim(self, reply: _Reply) -> AsyncGenerator[BrainEvent, None]:
        async for event in _speak(reply):
            yield event
        async for event in self._after_filing():
            yield event

    async def _after_filing(self) -> AsyncGenerator[BrainEvent, None]:
        if self._filing is None:
            arguments = self.claim.arguments(self.call_id)
            yield ToolCallRequested(
                call_id=f"{self.call_id}:{FILE_CLAIM_TOOL}:1", name=FILE_CLAIM_TOOL, arguments=arguments
            )
            # Owned by the brain, not by this iteration: a barge-in must not cancel the filing.
            self._filing = asyncio.ensure_future(self._tools.run(FILE_CLAIM_TOOL, arguments))
        try:
            result = await asyncio.shield(self._filing)
        except asyncio.CancelledError:
            raise
        except Exception:
            result = {}
        claim_id = result.get("claim_id")
        if not claim_id:
            reply = self._transfer(
                "I'm sorry, I couldn't file the claim just now. Let me transfer you to a claims agent.",
                "claim filing failed",
            )
            async for event in _speak(reply):
                yield event
            return
        self.claim_id = str(claim_id)
        async for event in _speak(self._goodbye(repeat=False)):
            yield event

    def _goodbye(self, *, repeat: bool) -> _Reply:
        self.step = Step.DONE
        if self.claim_id is None:
            return _Reply("Thank you for calling. Goodbye.", [EndCallRequested(reason="completed")])
        spoken = grammars.spoken_digits(self.claim_id)
        text = (
            f"Your claim number is {spoken}. I'll say that again: {spoken}. "
            "An adjuster will contact you shortly. Thank you for calling, goodbye."
        )
        if repeat:
            text = f"Sure. {text}"
        self._last_prompt = text
        return _Reply(text, [EndCallRequested(reason="claim filed")])


@dataclass(frozen=True)
class Identity:
    """A caller the authentication agent verified: carried to the agent it hands over to."""

    name: str
    policy_number: str


class AuthStep(Enum):
    POLICY = "policy_number"
    POSTCODE = "postcode"
    VERIFYING = "verifying"
    DONE = "done"


AUTH_QUESTIONS: dict[AuthStep, str] = {
    AuthStep.POLICY: QUESTIONS[Step.POLICY],
    AuthStep.POSTCODE: "And what is the postcode on the policy? Please say the digits.",
}


@cache
def postcode_grammar() -> Grammar:
    """Digits only: a postcode read out digit by digit ("six two seven zero four")."""
    digits = " | ".join(w for w in grammars.DIGIT_WORDS if w != "oh")
    jsgf = grammars._jsgf("postcode", "<digit>+", {"digit": digits})  # noqa: SLF001 - the shared JSGF layout
    return Grammar(name="postcode", jsgf=jsgf, phrases=("six two seven zero four",))


class AuthenticationBrain:
    """The entry agent: policy number, then the postcode on the policy (both digit grammars), checked
    by the durable `verify_identity` tool. Verified: a short line and `HandoffRequested` to intake.
    Not verified after `max_attempts`, or a request for a person: a transfer."""

    def __init__(
        self,
        *,
        call_id: str,
        agent: str,
        tools: ToolRunner,
        on_verified: Callable[[Identity], None],
        next_agent: str = INTAKE_AGENT,
        max_attempts: int = 2,
        max_reprompts: int = 2,
        transfer_target: str = DEFAULT_TRANSFER_TARGET,
        company: str = "Switchboard Insurance",
    ) -> None:
        self.call_id = call_id
        self.agent = agent
        self._tools = tools
        self._on_verified = on_verified
        self._next_agent = next_agent
        self._max_attempts = max_attempts
        self._max_reprompts = max_reprompts
        self._transfer_target = transfer_target
        self._company = company
        self.step = AuthStep.POLICY
        self.policy_number: str | None = None
        self.identity: Identity | None = None
        self._resume: AuthStep | None = None
        self._attempts = 0
        self._reprompts = 0
        self._last_prompt = AUTH_QUESTIONS[AuthStep.POLICY]

    def expected_grammar(self) -> Grammar | None:
        if self.step is AuthStep.POLICY:
            return grammars.digits_grammar()
        if self.step is AuthStep.POSTCODE:
            return postcode_grammar()
        return None

    def greet(self, context: BrainContext) -> AsyncGenerator[BrainEvent, None]:
        text = (
            f"Thank you for calling {self._company}. Before we start, I need to verify your identity. "
            f"If you need a person at any time, just say agent. {AUTH_QUESTIONS[AuthStep.POLICY]}"
        )
        self.step = AuthStep.POLICY
        self._last_prompt = text
        return _speak(_Reply(text))

    def respond(self, caller_text: str, context: BrainContext) -> AsyncGenerator[BrainEvent, None]:
        text = caller_text.strip()
        if self.step is AuthStep.DONE:
            return _speak(_Reply("Please hold on a moment."))
        if text and grammars.is_human_request(text):
            return _speak(self._transfer("Of course. I'll transfer you to an agent now.", "caller asked for a person"))
        if text and grammars.is_repeat_request(text):
            return _speak(_Reply(f"Sure. {self._last_prompt}"))
        if self.step is AuthStep.POLICY:
            policy = grammars.normalize_policy_number(text)
            if policy is None:
                return _speak(self._reprompt(AuthStep.POLICY))
            self.policy_number = policy
            self._reprompts = 0
            return _speak(self._ask(AuthStep.POSTCODE, f"Thanks, I have {grammars.spoken_digits(policy)}. "))
        postcode = "".join(ch for ch in grammars.normalize_digits(text) if ch.isdigit())
        if len(postcode) < 3:
            return _speak(self._reprompt(AuthStep.POSTCODE))
        return self._verify(postcode)

    def handoff_refused(self, target_agent: str) -> AsyncGenerator[BrainEvent, None]:
        """The workflow refused the handoff: say so and hand the caller to a person instead."""
        return _speak(
            self._transfer(
                "I'm sorry, I can't connect you to claims intake right now. Let me transfer you to an agent.",
                f"handoff to {target_agent} refused",
            )
        )

    def transfer_refused(self, detail: str) -> AsyncGenerator[BrainEvent, None]:
        """The transfer did not happen: say so and ask the open question again (or end the call)."""
        step, self._resume = self._resume, None
        if step not in (AuthStep.POLICY, AuthStep.POSTCODE):
            return _speak(
                _Reply(
                    "I'm sorry, nobody is available to take your call right now. Please call back later. Goodbye.",
                    [EndCallRequested(reason="transfer failed")],
                )
            )
        self._reprompts = 0
        return _speak(self._ask(step, "I'm sorry, I couldn't reach a person just now. Let's carry on. "))

    # ------------------------------------------------------------ steps

    def _ask(self, step: AuthStep, prefix: str = "") -> _Reply:
        self.step = step
        self._last_prompt = AUTH_QUESTIONS[step]
        return _Reply(f"{prefix}{AUTH_QUESTIONS[step]}")

    def _reprompt(self, step: AuthStep) -> _Reply:
        self._reprompts += 1
        if self._reprompts > self._max_reprompts:
            return self._transfer(
                "I'm sorry, I'm having trouble understanding. Let me transfer you to an agent.",
                "too many unrecognised answers",
            )
        return _Reply(f"Sorry, I didn't catch that. {AUTH_QUESTIONS[step]}")

    def _transfer(self, text: str, reason: str) -> _Reply:
        self._resume = self.step
        self.step = AuthStep.DONE
        self._last_prompt = text
        return _Reply(text, [TransferRequested(target=self._transfer_target, reason=reason)])

    async def _verify(self, postcode: str) -> AsyncGenerator[BrainEvent, None]:
        self.step = AuthStep.VERIFYING
        async for event in _speak(_Reply("Thank you, one moment while I check.")):
            yield event
        self._attempts += 1
        arguments = {"policy_number": self.policy_number or "", "postcode": postcode}
        yield ToolCallRequested(
            call_id=f"{self.call_id}:{VERIFY_IDENTITY_TOOL}:{self._attempts}",
            name=VERIFY_IDENTITY_TOOL,
            arguments=arguments,
        )
        try:
            result = await self._tools.run(VERIFY_IDENTITY_TOOL, arguments)
        except asyncio.CancelledError:
            self.step = AuthStep.POSTCODE  # barge-in: the caller may answer again
            raise
        except Exception:
            result = {}
        if result.get("verified"):
            name = str(result.get("holder_name") or "")
            self.identity = Identity(name=name, policy_number=str(result.get("policy_number") or self.policy_number))
            self._on_verified(self.identity)
            self.step = AuthStep.DONE
            first = name.split()[0] if name else ""
            reply = _Reply(
                f"Thank you{', ' + first if first else ''}, you're verified. I'm passing you to claims intake.",
                [HandoffRequested(target_agent=self._next_agent, reason="caller verified")],
            )
        elif "error" in result:
            reply = self._transfer(
                "I'm sorry, I can't check your details just now. Let me transfer you to an agent.",
                "identity check failed",
            )
        elif self._attempts >= self._max_attempts:
            reply = self._transfer(
                "I'm sorry, I couldn't verify those details. Let me transfer you to an agent.",
                "identity not verified",
            )
        else:
            self._reprompts = 0
            reply = self._ask(AuthStep.POLICY, "I'm sorry, those details don't match our records. ")
        async for event in _speak(reply):
            yield event


class SupportBrain:
    """General support, scripted: it can only offer a person (or hand back to intake for a claim)."""

    def __init__(self, *, call_id: str, agent: str, transfer_target: str = DEFAULT_TRANSFER_TARGET) -> None:
        self.call_id = call_id
        self.agent = agent
        self._transfer_target = transfer_target

    def expected_grammar(self) -> Grammar | None:
        return grammars.yes_no_grammar()

    def greet(self, context: BrainContext) -> AsyncGenerator[BrainEvent, None]:
        return _speak(_Reply("Support here. Would you like me to connect you to a person?"))

    def transfer_refused(self, detail: str) -> AsyncGenerator[BrainEvent, None]:
        return _speak(_Reply("I'm sorry, nobody is available right now. Is there anything else?"))

    def respond(self, caller_text: str, context: BrainContext) -> AsyncGenerator[BrainEvent, None]:
        if grammars.normalize_yes_no(caller_text) is False:
            return _speak(_Reply("All right. Thank you for calling, goodbye.", [EndCallRequested(reason="completed")]))
        return _speak(
            _Reply(
                "I'll transfer you to a person now.",
                [TransferRequested(target=self._transfer_target, reason="support question")],
            )
        )


async def _speak(reply: _Reply) -> AsyncGenerator[BrainEvent, None]:
    for clause in _clauses(reply.text):
        yield TextDelta(clause)
    for event in reply.events:
        yield event


class ScriptedBrainFactory:
    """`BrainFactory` for the scripted brains, per agent name: `authentication` verifies the caller,
    `support` offers a person, `appointments` books a clinic appointment, `claims-follow-up` calls a
    claimant about missing documents, anything else is the FNOL intake. Options are passed to every
    `ScriptedBrain`; `today` to every brain that speaks dates. A verified identity is handed to the
    next intake brain of the same call."""

    def __init__(self, *, today: date | None = None, **options: Any) -> None:
        self._today = today
        self._options = options
        self._verified: OrderedDict[str, Identity] = OrderedDict()

    def new_brain(
        self, *, call_id: str, agent: str, tools: ToolRunner
    ) -> ScriptedBrain | AuthenticationBrain | SupportBrain | AppointmentsBrain | FollowUpBrain:
        if agent == AUTHENTICATION_AGENT:
            return AuthenticationBrain(
                call_id=call_id, agent=agent, tools=tools, on_verified=lambda who: self._remember(call_id, who)
            )
        if agent == SUPPORT_AGENT:
            return SupportBrain(call_id=call_id, agent=agent)
        # Imported here: those dialogues are built from this module's pieces.
        if agent == APPOINTMENTS_AGENT:
            from realtime.engines.scripted_appointments import AppointmentsBrain

            return AppointmentsBrain(call_id=call_id, agent=agent, tools=tools, today=self._today)
        if agent == FOLLOW_UP_AGENT:
            from realtime.engines.scripted_follow_up import FollowUpBrain

            return FollowUpBrain(call_id=call_id, agent=agent, tools=tools)
        return ScriptedBrain(
            call_id=call_id,
            agent=agent,
            tools=tools,
            today=self._today,
            verified=self._verified.pop(call_id, None),
            **self._options,
        )

    def _remember(self, call_id: str, identity: Identity) -> None:
        self._verified[call_id] = identity
        while len(self._verified) > 1000:  # handoffs that never happened must not pile up
            self._verified.popitem(last=False)
