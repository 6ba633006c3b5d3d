"""The post-call summary, written into the call's record for back-office staff.

Two summarisers behind one interface, chosen like the brain (`llm.brain`):
- `OutcomeSummarizer` (embedded default, offline, deterministic): the facts of the call as the
  workflow holds them (who, when, how long, which agents, identity check, claim, transfers,
  recovery, outcome) in a few plain sentences. It never invents what was not recorded.
- `ChatSummarizer`: an OpenAI-compatible chat completion over the transcript, with the model from
  the *summary* route of the agent that ended the call (`models.summary` in its YAML), so a cheap
  model can summarise while a better one converses; agents without one use `llm.model`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from openai import AsyncOpenAI
from temporalio import activity
from temporalio.exceptions import ApplicationError

from workflows.contracts import CallState, CallSummary

SUMMARY_INSTRUCTIONS = (
    "You summarise a phone call between a caller and an AI agent for back-office staff. In at most "
    "four sentences say why the caller called, what was done (identity checks, claims filed with their "
    "ids, transfers) and how the call ended. Use only facts from the transcript and the call facts."
)


class CallSummarizer(Protocol):
    engine: str

    async def summarize(self, state: CallState, *, model: str | None) -> str: ...


def _duration(state: CallState) -> str:
    if not (state.started_at and state.ended_at):
        return ""
    seconds = int((datetime.fromisoformat(state.ended_at) - datetime.fromisoformat(state.started_at)).total_seconds())
    minutes, seconds = divmod(max(seconds, 0), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def _agents(state: CallState) -> list[str]:
    seen: list[str] = []
    for name in [t.agent for t in state.turns] + [h.to_agent for h in state.handoffs]:
        if name and name not in seen:
            seen.append(name)
    return seen or ([state.current_agent] if state.current_agent else [])


def call_facts(state: CallState) -> list[str]:
    """The call's facts as sentences, from the workflow's state only."""
    facts: list[str] = []
    party = state.caller if state.direction == "inbound" else state.callee
    when = state.started_at[:16].replace("T", " ") if state.started_at else ""
    preposition = "from" if state.direction == "inbound" else "to"
    opening = f"{state.direction.capitalize()} call {preposition} {party or 'an unknown number'}"
    duration = _duration(state)
    facts.append(f"{opening}{' on ' + when + ' UTC' if when else ''}{', ' + duration if duration else ''}.")
    agents = _agents(state)
    if agents:
        facts.append(f"Handled by {' then '.join(agents)} in {len(state.turns)} turns.")
    interrupted = sum(1 for t in state.turns if t.interrupted)
    if interrupted:
        facts.append(f"The caller interrupted the agent {interrupted} time{'s' if interrupted > 1 else ''}.")
    for call in state.tool_calls:
        if call.name == "verify_identity":
            verified = call.ok and call.result.get("verified")
            policy = call.result.get("policy_number") or call.arguments.get("policy_number") or ""
            for_policy = f" for policy {policy}" if policy else ""
            facts.append(f"Identity {'verified' if verified else 'not verified'}{for_policy}.")
        elif call.name == "file_claim" and call.ok:
            details = call.arguments
            what = ", ".join(
                f"{label} {details[key]}"
                for key, label in (("date_of_loss", "loss on"), ("location", "at"), ("vehicle_type", "vehicle"))
                if details.get(key)
            )
            facts.append(f"Claim {call.result.get('claim_id', '')} filed{' (' + what + ')' if what else ''}.")
        elif call.ok:
            facts.append(f"{call.name.replace('_', ' ').capitalize()} done.")
        else:
            facts.append(
                f"{call.name.replace('_', ' ').capitalize()} failed: {call.result.get('error', 'unknown error')}."
            )
    for transfer in state.transfers:
        facts.append(f"Transfer to {transfer.target} ({transfer.requested_by}): {transfer.outcome or 'pending'}.")
    if state.recovery is not None:
        facts.append(
            f"The media worker was lost ({state.recovery.cause}); recovery: {state.recovery.outcome or 'incomplete'}."
        )
    facts.append(f"Outcome: {state.status}{' (' + state.end_reason + ')' if state.end_reason else ''}.")
    return facts


class OutcomeSummarizer:
    """Offline and deterministic: the recorded facts of the call."""

    engine = "local"

    async def summarize(self, state: CallState, *, model: str | None) -> str:
        return " ".join(call_facts(state))


class ChatSummarizer:
    """A chat completion over the transcript and the call's facts (one request, not streamed)."""

    engine = "openai"

    def __init__(self, client: AsyncOpenAI, *, max_tokens: int = 200) -> None:
        self._client = client
        self._max_tokens = max_tokens

    async def summarize(self, state: CallState, *, model: str | None) -> str:
        if not model:
            raise ApplicationError("no summary model configured", type="SummaryUnavailable", non_retryable=True)
        lines = [" ".join(call_facts(state)), "", "Transcript:"]
        for turn in state.turns:
            if turn.caller_text:
                lines.append(f"Caller: {turn.caller_text}")
            if turn.agent_text:
                lines.append(f"Agent ({turn.agent}){' [interrupted]' if turn.interrupted else ''}: {turn.agent_text}")
        completion = await self._client.chat.completions.create(
            model=model,
            messages=[
                {"role": "system", "content": SUMMARY_INSTRUCTIONS},
                {"role": "user", "content": "\n".join(lines)},
            ],
            max_tokens=self._max_tokens,
            temperature=0,
        )
        text = (completion.choices[0].message.content or "").strip() if completion.choices else ""
        if not text:
            raise ApplicationError("the model returned an empty summary", type="SummaryUnavailable")
        return text


class SummaryActivities:
    """`summarize_call` with the summary model of the agent that ended the call (its route)."""

    def __init__(
        self, summarizer: CallSummarizer, *, summary_models: Mapping[str, str] | None = None, default_model: str = ""
    ) -> None:
        self._summarizer = summarizer
        self._models = dict(summary_models or {})
        self._default_model = default_model

    def model_for(self, state: CallState) -> str:
        for agent in [state.current_agent, *reversed(_agents(state))]:
            if agent in self._models:
                return self._models[agent]
        return self._default_model

    @activity.defn(name="summarize_call")
    async def summarize_call(self, state: CallState) -> CallSummary:
        model = self.model_for(state) if self._summarizer.engine != "local" else ""
        text = await self._summarizer.summarize(state, model=model or None)
        return CallSummary(text=text, engine=self._summarizer.engine, model=model)
