"""A websockets client that plays ACS on the media socket: AudioMetadata, then 20 ms AudioData
frames at real time (silence unless it is 'saying' something); records what it hears."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from dataclasses import dataclass

import websockets


@dataclass
class Heard:
    at: float
    kind: str
    pcm: bytes = b""


class FakeAcsCaller:
    def __init__(self, url: str, *, sample_rate: int = 16000) -> None:
        self.url = url
        self.rate = sample_rate
        self.frame = sample_rate // 50 * 2
        self.heard: list[Heard] = []
        self._speech = bytearray()
        self._spoken = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.closed = asyncio.Event()
        self.close_code: int | None = None

    async def __aenter__(self) -> FakeAcsCaller:
        self.ws = await websockets.connect(self.url, open_timeout=5)
        await self.ws.send(
            json.dumps(
                {
                    "kind": "AudioMetadata",
                    "audioMetadata": {
                        "subscriptionId": "sub-1",
                        "encoding": "PCM",
                        "sampleRate": self.rate,
                        "channels": 1,
                        "length": self.frame,
                    },
                }
            )
        )
        self._tasks = [asyncio.create_task(self._send_loop()), asyncio.create_task(self._receive_loop())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.ws.close()

    def say(self, pcm: bytes) -> None:
        self._spoken.clear()
        self._speech.extend(pcm)

    async def said(self) -> None:
        await self._spoken.wait()

    async def send_raw(self, message: str | bytes) -> None:
        await self.ws.send(message)

    async def _send_loop(self) -> None:
        start = time.monotonic()
        n = 0
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                if self._speech:
                    chunk = bytes(self._speech[: self.frame]).ljust(self.frame, b"\x00")
                    del self._speech[: self.frame]
                    silent = False
                    if not self._speech:
                        self._spoken.set()
                else:
                    chunk, silent = b"\x00" * self.frame, True
                message = {
                    "kind": "AudioData",
                    "audioData": {
                        "timestamp": "2026-01-01T00:00:00Z",
                        "participantRawID": "4:+15550001",
                        "data": base64.b64encode(chunk).decode(),
                        "silent": silent,
                    },
                }
                await self.ws.send(json.dumps(message))
                n += 1
                await asyncio.sleep(max(0.0, start + n * 0.02 - time.monotonic()))

    async def _receive_loop(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                kind = message["Kind"]
                pcm = base64.b64decode(message["AudioData"]["Data"]) if kind == "AudioData" else b""
                self.heard.append(Heard(time.monotonic(), kind, pcm))
        except websockets.ConnectionClosed as exc:
            self.close_code = exc.rcvd.code if exc.rcvd else None
        finally:
            if self.close_code is None and self.ws.close_code is not None:
                self.close_code = self.ws.close_code
            self.closed.set()

    def audio(self) -> list[Heard]:
        return [h for h in self.heard if h.kind == "AudioData"]

    def stops(self) -> list[Heard]:
        return [h for h in self.heard if h.kind == "StopAudio"]
