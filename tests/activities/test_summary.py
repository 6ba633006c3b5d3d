"""The post-call summary: the offline summariser states the recorded facts; the chat summariser asks
an OpenAI-compatible server (the local one, real `openai` SDK) with the summary model of the agent
that ended the call, its route."""

from __future__ import annotations

import pytest
from openai import AsyncOpenAI
from temporalio.testing import ActivityEnvironment

from activities.summary import ChatSummarizer, OutcomeSummarizer, SummaryActivities
from agents import load_scenario
from emulators.openai_server import OpenAIServer, Reply
from workflows.contracts import (
    CallState,
    CallStatus,
    HandoffRecord,
    RecoveryRecord,
    ToolCallRecord,
    TransferRecord,
    Turn,
)


def fnol_call() -> CallState:
    return CallState(
        workflow_id="call-s1",
        correlation_id="s1",
        status=CallStatus.COMPLETED,
        caller="+15551230001",
        current_agent="default",
        started_at="2026-11-24T10:00:00+00:00",
        ended_at="2026-11-24T10:02:13+00:00",
        end_reason="disconnected",
        turns=[
            Turn(sequence=1, agent_text="Welcome. What is your policy number?", agent="authentication"),
            Turn(
                sequence=2, caller_text="p a one two three four five six", agent_text="Thanks.", agent="authentication"
            ),
            Turn(sequence=3, caller_text="march third", agent_text="Where did it", agent="default", interrupted=True),
        ],
        handoffs=[HandoffRecord(from_agent="authentication", to_agent="default", reason="caller verified")],
        tool_calls=[
            ToolCallRecord(
                name="verify_identity",
                arguments={"policy_number": "PA123456", "postcode": "62704"},
                result={"verified": True, "policy_number": "PA123456"},
                ok=True,
            ),
            ToolCallRecord(
                name="file_claim",
                arguments={"date_of_loss": "2026-03-03", "location": "Main Street", "vehicle_type": "sedan"},
                result={"claim_id": "CLM-12345678", "created": True},
                ok=True,
            ),
        ],
        claim_id="CLM-12345678",
    )


async def test_the_offline_summary_states_the_recorded_facts() -> None:
    activities = SummaryActivities(OutcomeSummarizer())
    summary = await ActivityEnvironment().run(activities.summarize_call, fnol_call())
    assert (summary.engine, summary.model) == ("local", "")
    assert summary.text == (
        "Inbound call from +15551230001 on 2026-11-24 10:00 UTC, 2 min 13 s. "
        "Handled by authentication then default in 3 turns. The caller interrupted the agent 1 time. "
        "Identity verified for policy PA123456. "
        "Claim CLM-12345678 filed (loss on 2026-03-03, at Main Street, vehicle sedan). "
        "Outcome: completed (disconnected)."
    )


async def test_the_offline_summary_tells_a_recovered_call() -> None:
    state = fnol_call()
    state.status = CallStatus.RECOVERED
    state.transfers = [TransferRecord(target="+15550100100", requested_by="system", outcome="accepted")]
    state.recovery = RecoveryRecord(at="", cause="heartbeat_timeout", outcome="transferred")
    text = await OutcomeSummarizer().summarize(state, model=None)
    assert "Transfer to +15550100100 (system): accepted." in text
    assert "The media worker was lost (heartbeat_timeout); recovery: transferred." in text


async def test_the_chat_summary_uses_the_summary_route_of_the_agent_that_ended_the_call() -> None:
    scenario = load_scenario()
    routes = {name: agent.models["summary"] for name, agent in scenario.agents.items() if "summary" in agent.models}
    assert routes["default"] == "gpt-4.1-nano"  # the intake agent's YAML
    async with OpenAIServer(
        script=[Reply(content="The caller reported a collision; claim CLM-12345678 was filed.")]
    ) as server:
        client = AsyncOpenAI(base_url=server.base_url, api_key="test")
        activities = SummaryActivities(ChatSummarizer(client), summary_models=routes, default_model="gpt-4o")
        summary = await ActivityEnvironment().run(activities.summarize_call, fnol_call())
        await client.close()
    assert summary.text == "The caller reported a collision; claim CLM-12345678 was filed."
    assert (summary.engine, summary.model) == ("openai", "gpt-4.1-nano")
    request = server.requests[-1]
    assert request.body["model"] == "gpt-4.1-nano" and not request.body.get("stream")
    prompt = request.body["messages"][1]["content"]
    assert "Caller: p a one two three four five six" in prompt and "[interrupted]" in prompt


async def test_an_agent_without_a_summary_route_uses_an_earlier_agent_s_route_else_the_default_model() -> None:
    state = fnol_call()
    state.current_agent = "support"  # handed over from the intake agent, which has a route
    activities = SummaryActivities(OutcomeSummarizer(), summary_models={"default": "small"}, default_model="gpt-4o")
    assert activities.model_for(state) == "small"


async def test_a_call_with_no_routed_agent_uses_the_default_model() -> None:
    state = fnol_call()
    state.current_agent = "support"
    state.turns = [Turn(sequence=1, agent_text="Support here.", agent="support")]
    state.handoffs = []
    activities = SummaryActivities(OutcomeSummarizer(), summary_models={"default": "small"}, default_model="gpt-4o")
    assert activities.model_for(state) == "gpt-4o"


async def test_an_empty_model_answer_is_an_error_not_a_summary() -> None:
    async with OpenAIServer(script=[Reply(content="")]) as server:
        client = AsyncOpenAI(base_url=server.base_url, api_key="test")
        with pytest.raises(Exception, match="empty summary"):
            await ChatSummarizer(client).summarize(fnol_call(), model="gpt-4o-mini")
        await client.close()
