"""The OpenAI brain streams text, runs tool calls round-trip through the real SDK against the local
server (OpenAI and Azure routes), maps control tools to call events, and stops cleanly on barge-in."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from openai import AsyncAzureOpenAI, AsyncOpenAI

from emulators.openai_server import OpenAIServer, Reply, ToolCall
from realtime.engines.base import (
    BrainContext,
    ConversationTurn,
    EndCallRequested,
    HandoffRequested,
    TextDelta,
    ToolCallRequested,
    TransferRequested,
)
from realtime.engines.openai_brain import AgentProfile, OpenAIBrainFactory, client_from_settings
from switchboard.settings import LlmSettings

CTX = BrainContext(call_id="call-1", agent="fnol")


class Tools:
    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.delay = delay

    async def run(self, name: str, arguments: Mapping[str, Any]) -> Mapping[str, Any]:
        self.calls.append((name, dict(arguments)))
        await asyncio.sleep(self.delay)
        return {"claim_id": "CLM7"}


FILE_AND_SPEAK = [
    Reply(content="One moment. ", tool_calls=[ToolCall("file_claim", {"caller_name": "Jane", "injuries": False})]),
    Reply(content="Your claim number is C L M 7."),
]


async def run_tool_round_trip(client: AsyncOpenAI, srv: OpenAIServer, model: str) -> None:
    tools = Tools()
    brain = OpenAIBrainFactory(client=client, default_model=model).new_brain(
        call_id="call-1", agent="fnol", tools=tools
    )
    events = [e async for e in brain.respond("please file it", CTX)]
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert "".join(texts) == "One moment. Your claim number is C L M 7."
    assert len(texts) > 2  # streamed in pieces
    requested = [e for e in events if isinstance(e, ToolCallRequested)]
    assert [(r.name, dict(r.arguments)) for r in requested] == [
        ("file_claim", {"caller_name": "Jane", "injuries": False})
    ]
    assert tools.calls == [("file_claim", {"caller_name": "Jane", "injuries": False})]
    second = srv.requests[1].body["messages"]
    assert second[-2]["tool_calls"][0]["function"]["name"] == "file_claim"
    assert second[-1] == {
        "role": "tool",
        "tool_call_id": requested[0].call_id,
        "content": json.dumps({"claim_id": "CLM7"}),
    }
    assert srv.requests[0].body["stream"] is True
    assert {t["function"]["name"] for t in srv.requests[0].body["tools"]} >= {"file_claim", "transfer_to_human"}
    await client.close()


async def test_streams_text_and_runs_a_tool_round_trip_with_openai() -> None:
    async with OpenAIServer(script=FILE_AND_SPEAK) as srv:
        await run_tool_round_trip(AsyncOpenAI(base_url=srv.base_url, api_key="k"), srv, "gpt-test")
        assert srv.requests[0].body["model"] == "gpt-test"


async def test_streams_text_and_runs_a_tool_round_trip_with_azure() -> None:
    async with OpenAIServer(script=FILE_AND_SPEAK, api_key="az") as srv:
        client = AsyncAzureOpenAI(azure_endpoint=srv.endpoint, api_version="2024-10-21", api_key="az")
        await run_tool_round_trip(client, srv, "fnol-deployment")
        assert srv.requests[0].path == "/openai/deployments/fnol-deployment/chat/completions"


async def test_client_from_settings_picks_azure_or_openai() -> None:
    azure = client_from_settings(LlmSettings(brain="openai", azure_endpoint="http://127.0.0.1:9"))
    plain = client_from_settings(LlmSettings(brain="openai", base_url="http://127.0.0.1:9/v1"))
    assert isinstance(azure, AsyncAzureOpenAI)
    assert not isinstance(plain, AsyncAzureOpenAI) and str(plain.base_url).startswith("http://127.0.0.1:9/v1")
    await azure.close()
    await plain.close()


async def test_control_tools_become_call_events() -> None:
    script = [
        Reply(tool_calls=[ToolCall("transfer_to_human", {"reason": "asked"})]),
        Reply(content="Passing you on.", tool_calls=[ToolCall("handoff_to_agent", {"target_agent": "billing"})]),
        Reply(content="Goodbye.", tool_calls=[ToolCall("end_call", {})]),
    ]
    async with OpenAIServer(script=script) as srv:
        client = AsyncOpenAI(base_url=srv.base_url, api_key="k")
        brain = OpenAIBrainFactory(client=client, default_model="m").new_brain(call_id="c", agent="a", tools=Tools())
        first = [e async for e in brain.respond("a person please", CTX)]
        second = [e async for e in brain.respond("billing question", CTX)]
        third = [e async for e in brain.respond("bye", CTX)]
        await client.close()
        assert len(srv.requests) == 3  # control tools end the answer; no follow-up completion
        assert srv.requests[1].body["messages"][-3]["role"] == "assistant"
        assert srv.requests[1].body["messages"][-2]["role"] == "tool"
    assert first == [TransferRequested(target="claims-agents", reason="asked")]
    assert second[-1] == HandoffRequested(target_agent="billing", reason="")
    assert third[-1] == EndCallRequested(reason="completed")


async def test_model_follows_the_agent_profile() -> None:
    async with OpenAIServer(script=[Reply(content="Hi.")]) as srv:
        client = AsyncOpenAI(base_url=srv.base_url, api_key="k")
        factory = OpenAIBrainFactory(
            client=client,
            default_model="default-model",
            agents={"triage": AgentProfile(instructions="Triage.", model="small")},
        )
        brain = factory.new_brain(call_id="c", agent="triage", tools=Tools())
        _ = [e async for e in brain.greet(CTX)]
        await client.close()
        body = srv.requests[0].body
    assert body["model"] == "small"
    assert body["messages"][0] == {"role": "system", "content": "Triage."}


async def test_cancelling_mid_stream_closes_the_stream_and_the_next_answer_works() -> None:
    long = Reply(content="This is a long answer that the caller will interrupt halfway through. " * 3, chunk_chars=4)
    async with OpenAIServer(script=[long, Reply(content="Sure, go ahead.")], chunk_delay=0.01) as srv:
        client = AsyncOpenAI(base_url=srv.base_url, api_key="k")
        brain = OpenAIBrainFactory(client=client, default_model="m").new_brain(call_id="c", agent="a", tools=Tools())
        heard: list[str] = []

        async def speak() -> None:
            async for event in brain.respond("hello", CTX):
                assert isinstance(event, TextDelta)
                heard.append(event.text)

        task = asyncio.create_task(speak())
        while len(heard) < 3:
            await asyncio.sleep(0.005)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for _ in range(100):
            if srv.aborted_streams:
                break
            await asyncio.sleep(0.01)
        assert srv.aborted_streams == 1 and srv.completed_streams == 0

        history = (ConversationTurn("caller", "hello"), ConversationTurn("agent", "".join(heard), interrupted=True))
        ctx = BrainContext(call_id="c", agent="a", history=history)
        events = [e async for e in brain.respond("wait", ctx)]
        await client.close()
        sent = srv.requests[1].body["messages"]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Sure, go ahead."
    assert sent[-2] == {"role": "assistant", "content": "".join(heard).strip() + " [interrupted by the caller]"}
    assert sent[-1] == {"role": "user", "content": "wait"}


async def test_barge_in_during_a_tool_run_does_not_lose_or_repeat_it() -> None:
    async with OpenAIServer(script=[*FILE_AND_SPEAK, Reply(content="Done.")]) as srv:
        client = AsyncOpenAI(base_url=srv.base_url, api_key="k")
        tools = Tools(delay=0.05)
        brain = OpenAIBrainFactory(client=client, default_model="m").new_brain(call_id="c", agent="a", tools=tools)

        async def speak() -> None:
            async for _ in brain.respond("file it", CTX):
                pass

        task = asyncio.create_task(speak())
        while not tools.calls:
            await asyncio.sleep(0.005)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        _ = [e async for e in brain.respond("hello?", CTX)]
        await client.close()
        sent = srv.requests[-1].body["messages"]
    assert len(tools.calls) == 1
    tool_messages = [m for m in sent if m["role"] == "tool"]
    assert [json.loads(m["content"]) for m in tool_messages] == [{"claim_id": "CLM7"}]
