"""The local OpenAI-compatible server speaks the wire format the real SDK expects, on both the OpenAI
and the Azure routes, streaming and not."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import AsyncAzureOpenAI, AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam

from emulators.openai_server import OpenAIServer, Reply, ToolCall

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


async def test_streams_content_and_tool_call_deltas_that_the_sdk_assembles() -> None:
    reply = Reply(content="Hello there, caller.", tool_calls=[ToolCall("file_claim", {"name": "Jane"}, id="call_1")])
    async with OpenAIServer(script=[reply]) as srv:
        client = AsyncOpenAI(base_url=srv.base_url, api_key="k")
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        chunks = [c async for c in stream]
        await client.close()
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello there, caller."
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 1
    call_deltas = [d for c in chunks if c.choices for d in (c.choices[0].delta.tool_calls or [])]
    assert call_deltas[0].id == "call_1" and call_deltas[0].function.name == "file_claim"  # type: ignore[union-attr]
    assert len(call_deltas) > 2  # the arguments come in pieces
    assert "".join(d.function.arguments or "" for d in call_deltas) == '{"name": "Jane"}'  # type: ignore[union-attr]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_raw_stream_ends_with_done() -> None:
    async with OpenAIServer(script=[Reply(content="Hi")]) as srv:
        async with httpx.AsyncClient() as http:
            resp = await http.post(
                f"{srv.base_url}/chat/completions", json={"model": "m", "messages": MESSAGES, "stream": True}
            )
    lines = [line for line in resp.text.splitlines() if line]
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"


async def test_non_streaming_completion_and_request_recording() -> None:
    async with OpenAIServer(script=[Reply(content="Fine.")], api_key="secret") as srv:
        client = AsyncOpenAI(base_url=srv.base_url, api_key="secret")
        completion = await client.chat.completions.create(model="gpt-x", messages=MESSAGES)
        await client.close()
        recorded = srv.requests[0]
    assert completion.choices[0].message.content == "Fine."
    assert completion.model == "gpt-x"
    assert recorded.path == "/v1/chat/completions"
    assert recorded.headers["authorization"] == "Bearer secret"
    assert recorded.body["messages"] == MESSAGES


async def test_azure_route_takes_the_deployment_and_api_key_header() -> None:
    async with OpenAIServer(script=[Reply(content="Azure here.")], api_key="az") as srv:
        client = AsyncAzureOpenAI(azure_endpoint=srv.endpoint, api_version="2024-10-21", api_key="az")
        stream = await client.chat.completions.create(model="fnol-deploy", messages=MESSAGES, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        await client.close()
        recorded = srv.requests[0]
    assert text == "Azure here."
    assert recorded.path == "/openai/deployments/fnol-deploy/chat/completions"
    assert recorded.query["api-version"] == "2024-10-21"
    assert recorded.headers["api-key"] == "az"


async def test_wrong_key_is_refused_like_openai_does() -> None:
    async with OpenAIServer(api_key="right") as srv:
        client = AsyncOpenAI(base_url=srv.base_url, api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            await client.chat.completions.create(model="m", messages=MESSAGES)
        await client.close()


async def test_script_function_and_default_reply() -> None:
    async with OpenAIServer(script=lambda body: Reply(content=f"echo {body['messages'][-1]['content']}")) as srv:
        client = AsyncOpenAI(base_url=srv.base_url, api_key="k")
        done = await client.chat.completions.create(model="m", messages=MESSAGES)
        await client.close()
    assert done.choices[0].message.content == "echo hi"
