"""The small interfaces every speech and brain engine implements.

Audio crossing these interfaces is mono PCM16LE bytes at the engine's declared `sample_rate`; the
pipeline resamples at its edges. Engines hold no state shared across calls: a `Recognizer`,
`Synthesizer` or `BrainFactory` may be shared by a worker, but each call opens its own stream or
brain.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

# ---------------------------------------------------------------- recognition


@dataclass(frozen=True)
class Grammar:
    """A per-turn recognition grammar for a directed question (JSGF text), as classic IVRs use.

    `name` identifies it in logs and metrics; `phrases` is the plain list it was built from, which
    engines without grammar support can pass as phrase hints.
    """

    name: str
    jsgf: str
    phrases: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecognitionResult:
    text: str
    is_final: bool
    confidence: float | None = None


class RecognitionStream(Protocol):
    """One utterance: audio is fed as it arrives; `finish` returns the final result."""

    async def feed(self, pcm: bytes) -> None: ...

    def partial(self) -> RecognitionResult | None:
        """The newest partial hypothesis, if the engine produces them (never blocks)."""
        ...

    async def finish(self) -> RecognitionResult: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Recognizer(Protocol):
    sample_rate: int

    def open_stream(self, *, grammar: Grammar | None = None) -> RecognitionStream: ...


# ---------------------------------------------------------------- synthesis


@runtime_checkable
class Synthesizer(Protocol):
    sample_rate: int

    def synthesize(self, text: str, *, voice: str | None = None) -> AsyncGenerator[bytes, None]:
        """Stream PCM16LE chunks of `text` spoken. Closing (`aclose`) or cancelling the iteration stops
        synthesis; consume it inside `contextlib.aclosing` so a stop is immediate."""
        ...


# ---------------------------------------------------------------- brain


@dataclass(frozen=True)
class TextDelta:
    """A piece of the agent's answer, in speaking order."""

    text: str


@dataclass(frozen=True)
class ToolCallRequested:
    """The brain asks for a tool; `result` is filled by the tool runner before the brain goes on."""

    call_id: str
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True)
class HandoffRequested:
    target_agent: str
    reason: str = ""


@dataclass(frozen=True)
class TransferRequested:
    target: str
    reason: str = ""


@dataclass(frozen=True)
class EndCallRequested:
    reason: str = "completed"


BrainEvent = TextDelta | ToolCallRequested | HandoffRequested | TransferRequested | EndCallRequested


@dataclass(frozen=True)
class ConversationTurn:
    role: str  # "caller" | "agent" | "tool"
    text: str
    interrupted: bool = False


@dataclass
class BrainContext:
    """What the brain knows of the call when it answers."""

    call_id: str
    agent: str
    history: Sequence[ConversationTurn] = field(default_factory=tuple)


class ToolRunner(Protocol):
    async def run(self, name: str, arguments: Mapping[str, Any]) -> Mapping[str, Any]: ...


class Brain(Protocol):
    """One call's agent brain. `greet` and `respond` stream events; cancelling them is barge-in."""

    def greet(self, context: BrainContext) -> AsyncGenerator[BrainEvent, None]: ...

    def respond(self, caller_text: str, context: BrainContext) -> AsyncGenerator[BrainEvent, None]: ...

    def expected_grammar(self) -> Grammar | None:
        """The grammar for the caller's next answer, or None for free-form speech."""
        ...


class BrainFactory(Protocol):
    def new_brain(self, *, call_id: str, agent: str, tools: ToolRunner) -> Brain: ...


@dataclass(frozen=True)
class Engines:
    """A worker's engines, shared by its calls; each call opens its own streams and brain."""

    recognizer: Recognizer
    synthesizer: Synthesizer
    brains: BrainFactory
    voice: str | None = None
