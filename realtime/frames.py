"""The frames that flow through a call's media pipeline, named as events or commands.

Three families, as in Pipecat:
- `SystemFrame`: handled at once by every processor, ahead of anything queued (caller speech onset,
  interruption, agent speaking state). Never dropped by an interruption.
- `DataFrame`: audio and text, processed in order; an interruption drops the ones still queued in
  the agent-side processors.
- `ControlFrame`: in-order markers (end of caller speech, response boundaries, actions). Those
  marked `uninterruptible` survive an interruption's queue clearing.

Times are `time.monotonic()` seconds. Audio is mono PCM16LE.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, kw_only=True)
class Frame:
    uninterruptible: ClassVar[bool] = False


@dataclass(frozen=True, kw_only=True)
class SystemFrame(Frame):
    uninterruptible: ClassVar[bool] = True


@dataclass(frozen=True, kw_only=True)
class DataFrame(Frame):
    pass


@dataclass(frozen=True, kw_only=True)
class ControlFrame(Frame):
    pass


# ---------------------------------------------------------------- caller side


@dataclass(frozen=True, kw_only=True)
class CallerAudioFrame(DataFrame):
    """20 ms (or so) of the caller's audio as it arrived; `silent` is ACS's own silence flag."""

    pcm: bytes
    sample_rate: int
    received_at: float
    silent: bool = False

    @property
    def duration(self) -> float:
        return len(self.pcm) / (2 * self.sample_rate)


@dataclass(frozen=True, kw_only=True)
class CallerStartedSpeakingFrame(SystemFrame):
    """Speech onset, confirmed after the minimum speech duration. `speech_started_at` is when the
    first voiced frame arrived; `at` is when the onset was confirmed."""

    at: float
    speech_started_at: float
    during_agent_speech: bool = False


@dataclass(frozen=True, kw_only=True)
class CallerStoppedSpeakingFrame(ControlFrame):
    """End of speech after the hangover. `speech_ended_at`: arrival of the last voiced frame."""

    uninterruptible: ClassVar[bool] = True
    at: float
    speech_ended_at: float


@dataclass(frozen=True, kw_only=True)
class TranscriptFrame(DataFrame):
    uninterruptible: ClassVar[bool] = True
    text: str
    is_final: bool
    at: float
    confidence: float | None = None


@dataclass(frozen=True, kw_only=True)
class CallerTurnFrame(ControlFrame):
    """The caller finished a turn: the brain answers `text`."""

    uninterruptible: ClassVar[bool] = True
    text: str
    at: float


@dataclass(frozen=True, kw_only=True)
class DtmfFrame(DataFrame):
    uninterruptible: ClassVar[bool] = True
    digit: str
    at: float


# ---------------------------------------------------------------- agent side


@dataclass(frozen=True, kw_only=True)
class GreetFrame(ControlFrame):
    """Command: greet the caller (the brain's `greet`), at the start of the call."""

    uninterruptible: ClassVar[bool] = True


@dataclass(frozen=True, kw_only=True)
class AgentResponseStartedFrame(ControlFrame):
    response_id: int
    at: float


@dataclass(frozen=True, kw_only=True)
class AgentTextFrame(DataFrame):
    """A piece of the agent's answer as the brain streams it."""

    text: str
    response_id: int


@dataclass(frozen=True, kw_only=True)
class AgentClauseFrame(DataFrame):
    """A speakable clause of the answer, ready for synthesis."""

    text: str
    response_id: int
    clause_id: int
    at: float


@dataclass(frozen=True, kw_only=True)
class AgentAudioFrame(DataFrame):
    """Synthesised audio of clause `clause_id` (whose words are `text`)."""

    pcm: bytes
    sample_rate: int
    response_id: int
    clause_id: int
    text: str
    at: float


@dataclass(frozen=True, kw_only=True)
class AgentClauseAudioEndFrame(DataFrame):
    """All of clause `clause_id`'s audio has been produced."""

    response_id: int
    clause_id: int


@dataclass(frozen=True, kw_only=True)
class AgentResponseEndedFrame(ControlFrame):
    response_id: int


@dataclass(frozen=True, kw_only=True)
class AgentStartedSpeakingFrame(SystemFrame):
    """The first audio frame of a response went out on the socket at `at`."""

    response_id: int
    at: float


@dataclass(frozen=True, kw_only=True)
class AgentStoppedSpeakingFrame(SystemFrame):
    """A response's playback is over: fully played, or cut by an interruption.

    `heard_text` is what the caller heard (estimated at 1x from the pacer's clock). For an
    interruption, `interruption_at` is the confirmed onset and `stop_sent_at` when StopAudio went
    out (None if nothing was playing, so no StopAudio was needed).
    """

    response_id: int | None
    heard_text: str
    interrupted: bool
    at: float
    interruption_at: float | None = None
    stop_sent_at: float | None = None


# ---------------------------------------------------------------- commands


@dataclass(frozen=True, kw_only=True)
class InterruptionFrame(SystemFrame):
    """Barge-in: drop the agent's answer now. `at` is the confirmed caller speech onset."""

    at: float


@dataclass(frozen=True, kw_only=True)
class EndCallRequestedFrame(ControlFrame):
    """The brain ended the call; acted on once the goodbye before it has played."""

    uninterruptible: ClassVar[bool] = True
    reason: str = "completed"


@dataclass(frozen=True, kw_only=True)
class TransferRequestedFrame(ControlFrame):
    uninterruptible: ClassVar[bool] = True
    target: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class ToolCalledFrame(ControlFrame):
    """A tool the brain called, with its result (for transcripts and metrics)."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    result: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class EndFrame(ControlFrame):
    uninterruptible: ClassVar[bool] = True
    reason: str = "ended"
