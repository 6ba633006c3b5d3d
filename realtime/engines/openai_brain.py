"""The LLM brain: streaming chat completions with tools through the `openai` SDK.

Works with OpenAI, Azure OpenAI (`AsyncAzureOpenAI`; the model name is the deployment) and any
compatible server. Content streams out as `TextDelta` as it arrives (the pipeline chunks it into
clauses). Streamed `tool_calls` deltas are assembled; for each call the brain emits
`ToolCallRequested`, awaits the `ToolRunner`, appends the tool result and continues the completion.
Three built-in tools map to call control instead: `handoff_to_agent` -> `HandoffRequested`,
`transfer_to_human` -> `TransferRequested`, `end_call` -> `EndCallRequested`.

Barge-in: cancelling or closing `respond` closes the HTTP stream (`async with` on the SDK stream).
The partial answer is kept in the conversation as what the caller actually heard, taken from the
context's history (the last agent turn, `interrupted=True`). A tool run that was cut off keeps
running in a task the brain owns; the next answer waits for its result, so a side effect is neither
lost nor repeated.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from openai import AsyncAzureOpenAI, AsyncOpenAI, omit

from realtime.engines.base import (
    BrainContext,
    BrainEvent,
    EndCallRequested,
    Grammar,
    HandoffRequested,
    TextDelta,
    ToolCallRequested,
    ToolRunner,
    TransferRequested,
)
from switchboard.settings import LlmSettings

logger = logging.getLogger(__name__)

HANDOFF_TOOL = "handoff_to_agent"
TRANSFER_TOOL = "transfer_to_human"
END_CALL_TOOL = "end_call"
CONTROL_TOOLS = (HANDOFF_TOOL, TRANSFER_TOOL, END_CALL_TOOL)

DEFAULT_INSTRUCTIONS = (
    "You are a friendly voice agent for an insurance company taking first notice of loss for car "
    "accidents. Speak in short sentences suited to a phone call; no lists or markdown. Collect the "
    "caller's name, policy number, date and place of the incident, what happened, injuries and "
    "vehicle type; read them back; then call file_claim and read the claim id back. If the caller "
    "asks for a person, call transfer_to_human. When the conversation is over, call end_call."
)
DEFAULT_GREETING_PROMPT = "The call has just been answered. Greet the caller and ask how you can help."


def function_tool(
    name: str, description: str, properties: Mapping[str, Any], required: Sequence[str] = ()
) -> dict[str, Any]:
    """A chat-completions function tool definition."""
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": dict(properties), "required": list(required)},
        },
    }


FILE_CLAIM_TOOL_SPEC = function_tool(
    "file_claim",
    "File the first notice of loss once the caller has confirmed the details. Returns claim_id.",
    {
        "caller_name": {"type": "string"},
        "policy_number": {"type": "string", "description": "two letters and six digits"},
        "date_of_loss": {"type": "string", "description": "ISO date"},
        "location": {"type": "string"},
        "description": {"type": "string"},
        "injuries": {"type": "boolean"},
        "vehicle_type": {"type": "string"},
    },
    ["caller_name", "policy_number", "date_of_loss", "description"],
)
VERIFY_IDENTITY_TOOL_SPEC = function_tool(
    "verify_identity",
    "Check the caller's identity against the policy register. Returns verified (true or false).",
    {
        "policy_number": {"type": "string", "description": "two letters and six digits"},
        "postcode": {"type": "string", "description": "the postcode on the policy, digits"},
    },
    ["policy_number", "postcode"],
)
FIND_SLOTS_TOOL_SPEC = function_tool(
    "find_slots",
    "Look up the clinic's free appointment times on a day, and whether the date of birth belongs to a "
    "registered patient. Returns slots (times as HH:MM, earliest first), patient_found and patient_name.",
    {
        "day": {"type": "string", "description": "ISO date of the day the patient would like to come"},
        "date_of_birth": {"type": "string", "description": "the patient's date of birth, ISO date"},
    },
    ["day", "date_of_birth"],
)
BOOK_APPOINTMENT_TOOL_SPEC = function_tool(
    "book_appointment",
    "Book one appointment once the patient has agreed to a free time from find_slots (one per call). "
    "Returns confirmation_code, day and time; read the code back.",
    {
        "day": {"type": "string", "description": "ISO date"},
        "time": {"type": "string", "description": "a free time from find_slots, HH:MM"},
        "date_of_birth": {"type": "string", "description": "the patient's date of birth, ISO date"},
    },
    ["day", "time", "date_of_birth"],
)
# Business tools an agent's YAML may name, by name.
BUSINESS_TOOL_SPECS: dict[str, dict[str, Any]] = {
    "file_claim": FILE_CLAIM_TOOL_SPEC,
    "verify_identity": VERIFY_IDENTITY_TOOL_SPEC,
    "find_slots": FIND_SLOTS_TOOL_SPEC,
    "book_appointment": BOOK_APPOINTMENT_TOOL_SPEC,
}
CONTROL_TOOL_SPECS = [
    function_tool(
        HANDOFF_TOOL,
        "Hand the conversation to another agent.",
        {"target_agent": {"type": "string"}, "reason": {"type": "string"}},
        ["target_agent"],
    ),
    function_tool(TRANSFER_TOOL, "Transfer the call to a human.", {"reason": {"type": "string"}}),
    function_tool(END_CALL_TOOL, "End the call after saying goodbye.", {"reason": {"type": "string"}}),
]


@dataclass(frozen=True)
class AgentProfile:
    """How one agent (route) talks: its instructions, model (Azure: deployment) and business tools."""

    instructions: str = DEFAULT_INSTRUCTIONS
    model: str | None = None
    tools: Sequence[Mapping[str, Any]] = (FILE_CLAIM_TOOL_SPEC,)
    handoff_targets: Sequence[str] = ()
    transfer_target: str = "claims-agents"
    temperature: float | None = None


@dataclass
class _PendingCall:
    id: str
    name: str = ""
    arguments: str = ""


@dataclass
class _Assembly:
    """One streamed completion, put back together."""

    text: list[str] = field(default_factory=list)
    calls: dict[int, _PendingCall] = field(default_factory=dict)
    finish_reason: str | None = None


def client_from_settings(llm: LlmSettings) -> AsyncOpenAI:
    """`AsyncAzureOpenAI` when an Azure endpoint is set, else `AsyncOpenAI` (optionally at `base_url`)."""
    key = llm.api_key.get_secret_value() if llm.api_key else "not-needed"
    if llm.azure_endpoint:
        return AsyncAzureOpenAI(azure_endpoint=llm.azure_endpoint, api_version=llm.azure_api_version, api_key=key)
    return AsyncOpenAI(base_url=llm.base_url, api_key=key)


class OpenAIBrainFactory:
    """`BrainFactory` sharing one SDK client (its connection pool) across calls.

    `agents` maps an agent name to its `AgentProfile`; unknown agents use `default_profile`. The
    model is the profile's, else `default_model`.
    """

    def __init__(
        self,
        *,
        client: AsyncOpenAI,
        default_model: str,
        agents: Mapping[str, AgentProfile] | None = None,
        default_profile: AgentProfile | None = None,
        max_tool_rounds: int = 5,
    ) -> None:
        self.client = client
        self.default_model = default_model
        self.agents = dict(agents or {})
        self.default_profile = default_profile or AgentProfile()
        self.max_tool_rounds = max_tool_rounds

    @classmethod
    def from_settings(cls, llm: LlmSettings, **options: Any) -> OpenAIBrainFactory:
        return cls(client=client_from_settings(llm), default_model=llm.model, **options)

    def new_brain(self, *, call_id: str, agent: str, tools: ToolRunner) -> OpenAIBrain:
        profile = self.agents.get(agent, self.default_profile)
        return OpenAIBrain(
            client=self.client,
            model=profile.model or self.default_model,
            profile=profile,
            call_id=call_id,
            agent=agent,
            tools=tools,
            max_tool_rounds=self.max_tool_rounds,
        )

    async def aclose(self) -> None:
        await self.client.close()


class OpenAIBrain:
    """One call's LLM conversation."""

    def __init__(
        self,
        *,
        client: AsyncOpenAI,
        model: str,
        profile: AgentProfile,
        call_id: str,
        agent: str,
        tools: ToolRunner,
        max_tool_rounds: int = 5,
    ) -> None:
        self.client = client
        self.model = model
        self.profile = profile
        self.call_id = call_id
        self.agent = agent
        self._tools = tools
        self._max_tool_rounds = max_tool_rounds
        self.messages: list[dict[str, Any]] = [{"role": "system", "content": profile.instructions}]
        self._tool_specs = [*profile.tools, *CONTROL_TOOL_SPECS]
        self._pending_tools: dict[str, asyncio.Future[Mapping[str, Any]]] = {}
        self._speaking: int | None = None  # index of the assistant message being streamed
        self._answered: set[str] = set()  # tool call ids of this round with a tool message

    def expected_grammar(self) -> Grammar | None:
        return None

    def greet(self, context: BrainContext) -> AsyncGenerator[BrainEvent, None]:
        return self._turn({"role": "system", "content": DEFAULT_GREETING_PROMPT}, context)

    def respond(self, caller_text: str, context: BrainContext) -> AsyncGenerator[BrainEvent, None]:
        return self._turn({"role": "user", "content": caller_text}, context)

    # ------------------------------------------------------------ conversation

    def _reconcile(self, context: BrainContext) -> None:
        """Replace the last answer by what the caller heard, if it was interrupted."""
        last_agent = next((t for t in reversed(context.history) if t.role == "agent"), None)
        if last_agent is None or not last_agent.interrupted:
            return
        for message in reversed(self.messages):
            if message["role"] == "assistant" and message.get("content"):
                heard = last_agent.text.strip()
                message["content"] = f"{heard} [interrupted by the caller]" if heard else "[interrupted]"
                return

    async def _finish_pending_tools(self) -> None:
        """Tool runs cut off by a barge-in: wait for their results and add them to the conversation."""
        for call_id, future in list(self._pending_tools.items()):
            try:
                result: Mapping[str, Any] = await asyncio.shield(future)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the model hears about tool failures
                result = {"error": str(exc)}
            del self._pending_tools[call_id]
            self.messages.append({"role": "tool", "tool_call_id": call_id, "content": json.dumps(dict(result))})

    async def _turn(self, message: dict[str, Any], context: BrainContext) -> AsyncGenerator[BrainEvent, None]:
        self._reconcile(context)
        await self._finish_pending_tools()
        self.messages.append(message)
        for _ in range(self._max_tool_rounds + 1):
            assembly = _Assembly()
            self.messages.append({"role": "assistant", "content": ""})
            self._speaking = len(self.messages) - 1
            try:
                async for event in self._complete(assembly):
                    yield event
            finally:
                self._close_assistant_message(assembly)
            if not assembly.calls:
                return
            stop = False
            async for event in self._run_tools(assembly):
                yield event
                if isinstance(event, HandoffRequested | TransferRequested | EndCallRequested):
                    stop = True
            if stop:
                return
        logger.warning("call %s: tool rounds exhausted", self.call_id)

    def _close_assistant_message(self, assembly: _Assembly) -> None:
        if self._speaking is None:
            return
        message = self.messages[self._speaking]
        self._speaking = None
        message["content"] = "".join(assembly.text) or None
        calls = [c for _, c in sorted(assembly.calls.items()) if c.name]
        if calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls
            ]
        elif message["content"] is None:
            self.messages.remove(message)

    async def _complete(self, assembly: _Assembly) -> AsyncGenerator[BrainEvent, None]:
        messages: list[Any] = [
            m for m in self.messages if m["role"] != "assistant" or m.get("content") or m.get("tool_calls")
        ]
        tools: list[Any] = self._tool_specs
        temperature = self.profile.temperature
        stream = await self.client.chat.completions.create(
            model=self.model,
            messages=messages,
            tools=tools,
            stream=True,
            temperature=omit if temperature is None else temperature,
        )
        async with stream:  # closes the HTTP response on cancel/close
            async for chunk in stream:
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                delta = choice.delta
                if delta.content:
                    assembly.text.append(delta.content)
                    yield TextDelta(delta.content)
                for call_delta in delta.tool_calls or ():
                    pending = assembly.calls.setdefault(call_delta.index, _PendingCall(id=""))
                    if call_delta.id:
                        pending.id = call_delta.id
                    if call_delta.function is not None:
                        if call_delta.function.name:
                            pending.name += call_delta.function.name
                        if call_delta.function.arguments:
                            pending.arguments += call_delta.function.arguments
                if choice.finish_reason:
                    assembly.finish_reason = choice.finish_reason

    async def _run_tools(self, assembly: _Assembly) -> AsyncGenerator[BrainEvent, None]:
        calls = [(i, c) for i, c in sorted(assembly.calls.items()) if c.name]
        self._answered.clear()
        try:
            async for event in self._run_calls(calls):
                yield event
        finally:
            # Cut off: every call the model made still needs a tool message before the next request.
            for _, call in calls:
                if call.id not in self._answered and call.id not in self._pending_tools:
                    self._tool_result(call.id, {"error": "not run: the caller interrupted"})

    async def _run_calls(self, calls: list[tuple[int, _PendingCall]]) -> AsyncGenerator[BrainEvent, None]:
        for index, call in calls:
            call.id = call.id or f"{self.call_id}:tool:{index}"
            try:
                arguments = json.loads(call.arguments or "{}")
                if not isinstance(arguments, dict):
                    raise ValueError("arguments must be a JSON object")
            except ValueError as exc:
                self._tool_result(call.id, {"error": f"invalid arguments: {exc}"})
                continue
            if call.name in CONTROL_TOOLS:
                self._tool_result(call.id, {"status": "ok"})
                yield self._control_event(call.name, arguments)
                continue
            yield ToolCallRequested(call_id=call.id, name=call.name, arguments=arguments)
            # Owned by the brain: a barge-in while the tool runs must not cancel its side effect.
            future = asyncio.ensure_future(self._tools.run(call.name, arguments))
            self._pending_tools[call.id] = future
            try:
                result: Mapping[str, Any] = await asyncio.shield(future)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                result = {"error": str(exc)}
            self._pending_tools.pop(call.id, None)
            self._tool_result(call.id, result)

    def _tool_result(self, call_id: str, result: Mapping[str, Any]) -> None:
        self._answered.add(call_id)
        self.messages.append({"role": "tool", "tool_call_id": call_id, "content": json.dumps(dict(result))})

    def _control_event(self, name: str, arguments: Mapping[str, Any]) -> BrainEvent:
        reason = str(arguments.get("reason", ""))
        if name == HANDOFF_TOOL:
            return HandoffRequested(target_agent=str(arguments.get("target_agent", "")), reason=reason)
        if name == TRANSFER_TOOL:
            return TransferRequested(target=self.profile.transfer_target, reason=reason)
        return EndCallRequested(reason=reason or "completed")
