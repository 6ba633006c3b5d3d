"""Instant fake engines for platform benchmarks and pipeline tests. They honour the interfaces (PCM
at `sample_rate`, partials, cancellation, closed-stream errors) but do no speech work."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from typing import Any

from realtime.engines.base import (
    BrainContext,
    BrainEvent,
    EndCallRequested,
    Grammar,
    RecognitionResult,
    TextDelta,
    ToolCallRequested,
    ToolRunner,
)


class FakeRecognizer:
    """Each stream's final text is the next of `texts` (cycling). `finish_delay` simulates latency."""

    def __init__(self, texts: Iterable[str] = ("yes",), *, sample_rate: int = 16000, finish_delay: float = 0.0):
        self.sample_rate = sample_rate
        self._texts = itertools.cycle(list(texts) or [""])
        self._finish_delay = finish_delay
        self.grammars: list[Grammar | None] = []

    def open_stream(self, *, grammar: Grammar | None = None) -> FakeRecognitionStream:
        self.grammars.append(grammar)
        return FakeRecognitionStream(next(self._texts), self._finish_delay)


class FakeRecognitionStream:
    def __init__(self, text: str, finish_delay: float) -> None:
        self._text = text
        self._finish_delay = finish_delay
        self.fed_bytes = 0
        self._final: RecognitionResult | None = None
        self._closed = False

    async def feed(self, pcm: bytes) -> None:
        if self._closed or self._final is not None:
            raise RuntimeError("stream is finished")
        self.fed_bytes += len(pcm)

    def partial(self) -> RecognitionResult | None:
        if not self.fed_bytes or not self._text:
            return None
        words = self._text.split()
        return RecognitionResult(text=" ".join(words[: max(1, len(words) // 2)]), is_final=False)

    async def finish(self) -> RecognitionResult:
        if self._final is None:
            if self._closed:
                raise RuntimeError("stream is closed")
            if self._finish_delay:
                await asyncio.sleep(self._finish_delay)
            self._final = RecognitionResult(text=self._text, is_final=True, confidence=1.0)
        return self._final

    async def aclose(self) -> None:
        self._closed = True


class FakeSynthesizer:
    """Yields `duration_ms` of a sine tone per text (or `ms_per_char` per character, if given) in
    `chunk_ms` chunks, without waiting; yields control between chunks so cancellation lands."""

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        duration_ms: int = 200,
        ms_per_char: float | None = None,
        chunk_ms: int = 20,
        frequency: float = 440.0,
    ) -> None:
        self.sample_rate = sample_rate
        self._duration_ms = duration_ms
        self._ms_per_char = ms_per_char
        self._chunk_samples = sample_rate * chunk_ms // 1000
        period = sample_rate / frequency
        n = int(round(period * max(1, round(self._chunk_samples / period))))
        tone = [int(8000 * math.sin(2 * math.pi * i / period)) for i in range(n)]
        self._cycle = b"".join(s.to_bytes(2, "little", signed=True) for s in tone)
        self.texts: list[str] = []

    def synthesize(self, text: str, *, voice: str | None = None) -> AsyncGenerator[bytes, None]:
        return self._stream(text)

    async def _stream(self, text: str) -> AsyncGenerator[bytes, None]:
        if not text.strip():
            return
        self.texts.append(text)
        ms = self._ms_per_char * len(text) if self._ms_per_char is not None else self._duration_ms
        remaining = int(self.sample_rate * ms / 1000) * 2
        chunk_bytes = self._chunk_samples * 2
        tone = self._cycle * (chunk_bytes // len(self._cycle) + 2)
        while remaining > 0:
            size = min(chunk_bytes, remaining)
            remaining -= size
            yield tone[:size]
            await asyncio.sleep(0)


class FakeBrain:
    """Greets with `greeting`, answers with `replies` in order (then the last one again), speaking
    each in word-sized `TextDelta`s. After `end_after` answers it emits `EndCallRequested`. When
    `tool` is set, the first answer runs that tool through the runner first."""

    def __init__(
        self,
        *,
        tools: ToolRunner,
        greeting: str = "Hello, how can I help?",
        replies: Sequence[str] = ("Okay.",),
        end_after: int | None = None,
        tool: tuple[str, Mapping[str, Any]] | None = None,
        grammar: Grammar | None = None,
    ) -> None:
        self._tools = tools
        self._greeting = greeting
        self._replies = list(replies) or ["Okay."]
        self._end_after = end_after
        self._tool = tool
        self._grammar = grammar
        self.answers = 0
        self.heard: list[str] = []

    def expected_grammar(self) -> Grammar | None:
        return self._grammar

    def greet(self, context: BrainContext) -> AsyncGenerator[BrainEvent, None]:
        return self._speak(self._greeting, end=False)

    def respond(self, caller_text: str, context: BrainContext) -> AsyncGenerator[BrainEvent, None]:
        self.heard.append(caller_text)
        reply = self._replies[min(self.answers, len(self._replies) - 1)]
        self.answers += 1
        end = self._end_after is not None and self.answers >= self._end_after
        return self._answer(reply, end=end, run_tool=self._tool is not None and self.answers == 1)

    async def _answer(self, text: str, *, end: bool, run_tool: bool) -> AsyncGenerator[BrainEvent, None]:
        if run_tool and self._tool is not None:
            name, arguments = self._tool
            yield ToolCallRequested(call_id=f"fake-{self.answers}", name=name, arguments=arguments)
            await self._tools.run(name, arguments)
        async for event in self._speak(text, end=end):
            yield event

    async def _speak(self, text: str, *, end: bool) -> AsyncGenerator[BrainEvent, None]:
        for word in text.split(" "):
            yield TextDelta(word + " ")
            await asyncio.sleep(0)
        if end:
            yield EndCallRequested(reason="completed")


class FakeBrainFactory:
    def __init__(self, **options: Any) -> None:
        self._options = options

    def new_brain(self, *, call_id: str, agent: str, tools: ToolRunner) -> FakeBrain:
        return FakeBrain(tools=tools, **self._options)
