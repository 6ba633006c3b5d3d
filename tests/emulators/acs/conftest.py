"""Fixtures for the ACS emulator tests: a stub app (Event Grid webhook + callback receiver), a media
WebSocket peer standing in for the realtime worker, and a running emulator. Loopback only."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
import websockets
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from websockets.asyncio.server import ServerConnection

from emulators.acs import AcsEmulator, EmulatorOptions

ACCESS_KEY = base64.b64encode(b"switchboard-emulator-test-key-32").decode()
APP_NUMBER = "+15550100000"
CALLER = "+15550123456"
FAILING = "+15550009999"


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: Any


@dataclass
class StubApp:
    """Plays the Switchboard API for the emulator: answers the Event Grid handshake (unless told not
    to) and records every Event Grid post and callback."""

    base_url: str = ""
    validate: bool = True
    event_grid: list[Received] = field(default_factory=list)
    callbacks: list[Received] = field(default_factory=list)
    callback_failures_left: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def event_grid_url(self) -> str:
        return f"{self.base_url}/api/events"

    @property
    def callback_url(self) -> str:
        return f"{self.base_url}/api/callbacks"

    def notifications(self) -> list[dict[str, Any]]:
        return [e for r in self.event_grid if r.headers.get("aeg-event-type") == "Notification" for e in r.body]

    def callback_events(self, call_connection_id: str | None = None) -> list[dict[str, Any]]:
        events = [e for r in self.callbacks for e in r.body]
        if call_connection_id is not None:
            events = [e for e in events if e["data"]["callConnectionId"] == call_connection_id]
        return events

    def callback_types(self, call_connection_id: str | None = None) -> list[str]:
        return [e["type"].removeprefix("Microsoft.Communication.") for e in self.callback_events(call_connection_id)]

    async def wait_callback(self, event_type: str, call_connection_id: str, within: float = 5.0) -> dict[str, Any]:
        deadline = time.perf_counter() + within
        while True:
            for event in self.callback_events(call_connection_id):
                if event["type"] == f"Microsoft.Communication.{event_type}":
                    return event
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"no {event_type}; got {self.callback_types(call_connection_id)}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_incoming(self, count: int = 1, within: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.perf_counter() + within
        while len(self.notifications()) < count:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{len(self.notifications())} IncomingCall deliveries, wanted {count}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.1)
        return self.notifications()

    def build(self) -> FastAPI:
        app = FastAPI()

        @app.post("/api/events")
        async def events(request: Request) -> Response:
            body = await request.json()
            self.event_grid.append(Received(time.perf_counter(), dict(request.headers), body))
            self._changed.set()
            if request.headers.get("aeg-event-type") == "SubscriptionValidation":
                if not self.validate:
                    return JSONResponse({"nope": True})
                return JSONResponse({"validationResponse": body[0]["data"]["validationCode"]})
            return Response(status_code=200)

        @app.post("/api/callbacks")
        async def callbacks(request: Request) -> Response:
            if self.callback_failures_left > 0:
                self.callback_failures_left -= 1
                return Response(status_code=503)
            self.callbacks.append(Received(time.perf_counter(), dict(request.headers), await request.json()))
            self._changed.set()
            return Response(status_code=200)

        return app


@dataclass
class PeerConnection:
    """One media WebSocket the emulator opened to the peer."""

    ws: ServerConnection
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def audio(self) -> list[tuple[float, dict[str, Any]]]:
        return [(t, m) for t, m in self.messages if m.get("kind") == "AudioData"]

    async def wait_audio(self, count: int, within: float = 5.0) -> list[tuple[float, dict[str, Any]]]:
        deadline = time.perf_counter() + within
        while len(self.audio()) < count:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{len(self.audio())} AudioData frames, wanted {count}")
            await asyncio.sleep(0.01)
        return self.audio()

    async def send_audio(self, pcm: bytes, *, chunk: int, casing: str = "python") -> None:
        for start in range(0, len(pcm), chunk):
            data = base64.b64encode(pcm[start : start + chunk]).decode()
            if casing == "python":
                message: dict[str, Any] = {"Kind": "AudioData", "AudioData": {"Data": data}, "StopAudio": None}
            else:
                message = {"kind": "audioData", "audioData": {"data": data}}
            await self.ws.send(json.dumps(message))

    async def stop_audio(self) -> None:
        await self.ws.send(json.dumps({"Kind": "StopAudio", "AudioData": None, "StopAudio": {}}))


class MediaPeer:
    """A WebSocket server at the transport URL: records what the emulator sends."""

    def __init__(self) -> None:
        self.connections: asyncio.Queue[PeerConnection] = asyncio.Queue()
        self.port = 0

    def url(self, call: str = "call") -> str:
        return f"ws://127.0.0.1:{self.port}/media/{call}?token=t"

    async def handler(self, ws: ServerConnection) -> None:
        request = ws.request
        conn = PeerConnection(
            ws=ws, path=request.path if request else "", headers=dict(request.headers) if request else {}
        )
        await self.connections.put(conn)
        try:
            async for raw in ws:
                conn.messages.append((time.perf_counter(), json.loads(raw)))
        except websockets.ConnectionClosed:
            pass
        finally:
            conn.closed.set()

    async def next_connection(self, within: float = 5.0) -> PeerConnection:
        return await asyncio.wait_for(self.connections.get(), within)


@pytest.fixture
async def stub_app() -> AsyncIterator[StubApp]:
    stub = StubApp()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    stub.base_url = f"http://127.0.0.1:{port}"
    server = _QuietServer(uvicorn.Config(stub.build(), log_level="warning", lifespan="off", ws="none"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    yield stub
    server.should_exit = True
    await asyncio.wait_for(task, 5)
    sock.close()


@pytest.fixture
async def media_peer() -> AsyncIterator[MediaPeer]:
    peer = MediaPeer()
    async with websockets.serve(peer.handler, "127.0.0.1", 0) as server:
        peer.port = next(iter(server.sockets)).getsockname()[1]
        yield peer


def tone_renderer(text: str, voice: str | None, sample_rate: int) -> bytes:
    """Fast stand-in for espeak: 60 ms of tone per word."""
    import numpy as np

    seconds = 0.06 * max(1, len(text.split()))
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    return (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes()


@pytest.fixture
async def emulator(stub_app: StubApp) -> AsyncIterator[AcsEmulator]:
    options = EmulatorOptions(
        connect_delay=0.01, transfer_delay=0.02, outbound_answer_delay=0.05, callback_backoff=0.02
    )
    async with AcsEmulator(
        access_key=ACCESS_KEY,
        event_grid_url=stub_app.event_grid_url,
        failing_targets={FAILING},
        options=options,
        renderer=tone_renderer,
    ) as emu:
        yield emu
