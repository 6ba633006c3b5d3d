"""A local OpenAI-compatible chat completions server for tests: the real wire format, scripted replies.

Routes: `POST /v1/chat/completions` (OpenAI: `Authorization: Bearer`) and
`POST /openai/deployments/{deployment}/chat/completions?api-version=...` (Azure OpenAI: `api-key`
header). With `"stream": true` it answers Server-Sent Events, one `data: {chat.completion.chunk}`
line per delta (content pieces; `tool_calls` deltas carrying index, id, function name, then the
arguments split across chunks), a last chunk with `finish_reason`, an optional usage chunk
(`stream_options.include_usage`), and `data: [DONE]`. Without it, one `chat.completion` object.

    async with OpenAIServer(script=[Reply(content="Hello!")]) as srv:
        client = AsyncOpenAI(base_url=srv.base_url, api_key="test")

`script` is a list of `Reply` taken in order (one per request; past the end, `default`), or a
function from the request body to a `Reply`. Every request is recorded in `requests`. `chunk_delay`
spaces the streamed chunks so a client can cancel mid-stream; `aborted_streams` counts streams the
client closed before `[DONE]`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from switchboard.asgi import serve_in_loop


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def arguments_json(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass(frozen=True)
class Reply:
    """One assistant answer: text, tool calls, or both. Streamed `chunk_chars` characters at a time."""

    content: str = ""
    tool_calls: Sequence[ToolCall] = ()
    chunk_chars: int = 6
    status: int = 200  # a non-200 status answers an OpenAI-shaped error instead

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: Mapping[str, Any]


Script = Sequence[Reply] | Callable[[Mapping[str, Any]], Reply]


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), max(1, size))]


class OpenAIServer:
    def __init__(
        self,
        *,
        script: Script = (),
        default: Reply | None = None,
        chunk_delay: float = 0.0,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._script = script
        self._next = 0
        self.default = default or Reply(content="OK.")
        self.chunk_delay = chunk_delay
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.aborted_streams = 0
        self.completed_streams = 0
        self._host = host
        self._port = port
        self._stack: AsyncExitStack | None = None
        self.port: int | None = None
        self.app = self._build_app()

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> OpenAIServer:
        self._stack = AsyncExitStack()
        self.port = await self._stack.enter_async_context(serve_in_loop(self.app, host=self._host, port=self._port))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None

    @property
    def endpoint(self) -> str:
        """Root URL, what `AsyncAzureOpenAI(azure_endpoint=...)` takes."""
        if self.port is None:
            raise RuntimeError("server is not running; use `async with OpenAIServer(...)`")
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What `AsyncOpenAI(base_url=...)` takes."""
        return f"{self.endpoint}/v1"

    # ------------------------------------------------------------ scripting

    def _reply_for(self, body: Mapping[str, Any]) -> Reply:
        if callable(self._script):
            return self._script(body)
        if self._next < len(self._script):
            reply = self._script[self._next]
            self._next += 1
            return reply
        return self.default

    # ------------------------------------------------------------ HTTP

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="OpenAI-compatible test server")

        @app.post("/v1/chat/completions")
        async def openai_chat(request: Request) -> Any:
            auth = request.headers.get("authorization", "")
            ok = self.api_key is None or auth == f"Bearer {self.api_key}"
            return await self._chat(request, model_from_body=True, authorised=ok)

        @app.post("/openai/deployments/{deployment}/chat/completions")
        async def azure_chat(deployment: str, request: Request) -> Any:
            if "api-version" not in request.query_params:
                return _error(404, "Resource not found", "404")
            ok = self.api_key is None or request.headers.get("api-key") == self.api_key
            return await self._chat(request, model_from_body=False, authorised=ok, deployment=deployment)

        return app

    async def _chat(self, request: Request, *, model_from_body: bool, authorised: bool, deployment: str = "") -> Any:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.", "invalid_request_error")
        self.requests.append(
            RecordedRequest(
                path=request.url.path,
                query=dict(request.query_params),
                headers=dict(request.headers),
                body=body,
            )
        )
        if not authorised:
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        if not isinstance(body.get("messages"), list):
            return _error(400, "'messages' is a required property", "invalid_request_error")
        reply = self._reply_for(body)
        if reply.status != 200:
            return _error(reply.status, "scripted error", "server_error")
        model = str(body.get("model", "")) if model_from_body else deployment
        completion_id = f"chatcmpl-{len(self.requests)}"
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                self._stream(reply, completion_id, model, include_usage),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )
        return JSONResponse(_completion(reply, completion_id, model, len(self.requests)))

    async def _stream(self, reply: Reply, completion_id: str, model: str, include_usage: bool) -> AsyncIterator[str]:
        created = int(time.time())

        def chunk(delta: Mapping[str, Any], finish: str | None = None) -> str:
            payload = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": None,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            return f"data: {json.dumps(payload)}\n\n"

        events: list[str] = [chunk({"role": "assistant", "content": ""})]
        events += [chunk({"content": piece}) for piece in _pieces(reply.content, reply.chunk_chars)]
        for index, call in enumerate(reply.tool_calls):
            call_id = call.id or f"call_{completion_id}_{index}"
            events.append(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "id": call_id,
                                "type": "function",
                                "function": {"name": call.name, "arguments": ""},
                            }
                        ]
                    }
                )
            )
            for piece in _pieces(call.arguments_json(), reply.chunk_chars):
                events.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
        events.append(chunk({}, reply.finish_reason))
        if include_usage:
            usage = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": _usage(reply),
            }
            events.append(f"data: {json.dumps(usage)}\n\n")
        events.append("data: [DONE]\n\n")
        finished = False
        try:
            for event in events:
                if self.chunk_delay:
                    await asyncio.sleep(self.chunk_delay)
                yield event
            finished = True
        finally:
            if finished:
                self.completed_streams += 1
            else:
                self.aborted_streams += 1


def _usage(reply: Reply) -> dict[str, int]:
    completion = max(1, len(reply.content.split()) + len(reply.tool_calls) * 10)
    return {"prompt_tokens": 10, "completion_tokens": completion, "total_tokens": 10 + completion}


def _completion(reply: Reply, completion_id: str, model: str, n: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content or None, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id or f"call_{completion_id}_{i}",
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json()},
            }
            for i, call in enumerate(reply.tool_calls)
        ]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}],
        "usage": _usage(reply),
    }


def _error(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}},
    )
