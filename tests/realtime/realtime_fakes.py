"""Fake engines and recorders for the realtime tests: no network, deterministic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from realtime.actions import ActionResult
from realtime.bridge import PendingSignal
from realtime.engines.base import (
    BrainContext,
    BrainEvent,
    EndCallRequested,
    Grammar,
    RecognitionResult,
    TextDelta,
    ToolRunner,
)


def tone(ms: int, *, rate: int = 16000, freq: float = 220.0, amplitude: float = 0.3) -> bytes:
    t = np.arange(rate * ms // 1000) / rate
    wave = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, 8))
    peak = float(np.abs(wave).max()) or 1.0
    return (wave / peak * amplitude * 32767).astype("<i2").tobytes()


def silence(ms: int, *, rate: int = 16000) -> bytes:
    return b"\x00" * (rate * ms // 1000 * 2)


class FakeStream:
    def __init__(self, recognizer: FakeRecognizer, grammar: Grammar | None) -> None:
        self._recognizer = recognizer
        self.grammar = grammar
        self.fed = 0
        self.closed = False

    async def feed(self, pcm: bytes) -> None:
        self.fed += len(pcm)

    def partial(self) -> RecognitionResult | None:
        return None

    async def finish(self) -> RecognitionResult:
        await asyncio.sleep(self._recognizer.finish_delay)
        return RecognitionResult(text=self._recognizer.next_text(), is_final=True, confidence=0.9)

    async def aclose(self) -> None:
        self.closed = True


class FakeRecognizer:
    """Each utterance is recognised as the next text of `texts` (then "")."""

    def __init__(self, texts: Sequence[str] = (), *, sample_rate: int = 16000, finish_delay: float = 0.01):
        self.sample_rate = sample_rate
        self._texts = list(texts)
        self.finish_delay = finish_delay
        self.streams: list[FakeStream] = []

    def next_text(self) -> str:
        return self._texts.pop(0) if self._texts else ""

    def open_stream(self, *, grammar: Grammar | None = None) -> FakeStream:
        stream = FakeStream(self, grammar)
        self.streams.append(stream)
        return stream


class FakeSynthesizer:
    """`ms_per_word` of a harmonic tone per word, in `chunk_ms` chunks, produced `realtime_factor`
    times faster than real time."""

    def __init__(self, *, sample_rate: int = 16000, ms_per_word: int = 200, chunk_ms: int = 100, delay: float = 0.0):
        self.sample_rate = sample_rate
        self.ms_per_word = ms_per_word
        self.chunk_ms = chunk_ms
        self.delay = delay
        self.texts: list[str] = []

    async def synthesize(self, text: str, *, voice: str | None = None) -> AsyncIterator[bytes]:
        self.texts.append(text)
        audio = tone(self.ms_per_word * len(text.split()), rate=self.sample_rate, amplitude=0.2)
        step = self.sample_rate * self.chunk_ms // 1000 * 2
        for i in range(0, len(audio), step):
            if self.delay:
                await asyncio.sleep(self.delay)
            yield audio[i : i + step]


@dataclass
class ScriptedBrain:
    greeting: str = "Hello, you are through to the claims line. How can I help?"
    answers: Callable[[str], Sequence[BrainEvent]] = lambda text: [TextDelta(f"You said {text}. Thank you.")]
    fail_on_respond: bool = False
    grammar: Grammar | None = None
    token_delay: float = 0.0
    heard: list[str] = field(default_factory=list)

    async def greet(self, context: BrainContext) -> AsyncIterator[BrainEvent]:
        for word in self.greeting.split(" "):
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
            yield TextDelta(word + " ")

    async def respond(self, caller_text: str, context: BrainContext) -> AsyncIterator[BrainEvent]:
        self.heard.append(caller_text)
        if self.fail_on_respond:
            raise RuntimeError("brain exploded")
        for event in self.answers(caller_text):
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
            yield event

    def expected_grammar(self) -> Grammar | None:
        return self.grammar


class FakeBrainFactory:
    def __init__(self, make: Callable[[str], ScriptedBrain] | None = None) -> None:
        self._make = make or (lambda agent: ScriptedBrain())
        self.brains: list[tuple[str, ScriptedBrain]] = []
        self.tools: list[ToolRunner] = []

    def new_brain(self, *, call_id: str, agent: str, tools: ToolRunner) -> ScriptedBrain:
        brain = self._make(agent)
        self.brains.append((agent, brain))
        self.tools.append(tools)
        return brain


def goodbye_answers(text: str) -> list[BrainEvent]:
    return [TextDelta("Thank you for calling. Goodbye."), EndCallRequested(reason="completed")]


class RecordingActions:
    def __init__(self, *, accept: bool = True) -> None:
        self.accept = accept
        self.calls: list[tuple[str, Any]] = []
        self.hung_up = asyncio.Event()

    async def hang_up(self, *, reason: str) -> ActionResult:
        self.calls.append(("hang_up", reason))
        self.hung_up.set()
        return ActionResult(accepted=self.accept)

    async def transfer(self, *, target: str, reason: str) -> ActionResult:
        self.calls.append(("transfer", target))
        return ActionResult(accepted=self.accept)

    async def handoff(self, *, target_agent: str, reason: str) -> ActionResult:
        self.calls.append(("handoff", target_agent))
        return ActionResult(accepted=self.accept)

    async def run_tool(self, name: str, arguments: Mapping[str, Any]) -> Mapping[str, Any]:
        self.calls.append(("run_tool", name))
        return {"ok": True}


class RecordingSender:
    """A SignalQueue transport that records every signal."""

    def __init__(self) -> None:
        self.signals: list[PendingSignal] = []
        self.changed = asyncio.Event()

    async def __call__(self, signal: PendingSignal) -> None:
        self.signals.append(signal)
        self.changed.set()

    def named(self, name: str, workflow_id: str | None = None) -> list[Any]:
        return [
            s.payload
            for s in self.signals
            if s.name == name and (workflow_id is None or s.workflow_id == workflow_id)
        ]

    async def wait_for(self, predicate: Callable[[], bool], *, within: float = 10.0) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()
