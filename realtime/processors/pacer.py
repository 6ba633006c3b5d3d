"""Output pacing: sends the agent's audio as 20 ms frames at real time plus a small lead.

ACS buffers what we send and plays it at 1x. Sending only `lead_ms` ahead keeps that buffer short,
so `StopAudio` silences the agent within about the lead, and the pacer's clock tells how much the
caller has actually heard: frame k of an answer starts playing at the far end at
`play_start + k * 20 ms` (the clock restarts when synthesis underruns).

It also tracks which words each frame carries (clause by clause), so an interrupted answer is
recorded with only the text heard: whole clauses played, plus the played share of the clause that
was cut, in words. StopAudio is sent only on interruption, only if audio is still buffered at the
far end, and at most once per answer: never between chunks of one answer. Frames that follow an
answer (end the call, transfer) pass only after its audio has played.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from realtime.audio import Reframer, frame_bytes
from realtime.conversation import Conversation
from realtime.frames import (
    AgentAudioFrame,
    AgentClauseAudioEndFrame,
    AgentResponseEndedFrame,
    AgentResponseStartedFrame,
    AgentStartedSpeakingFrame,
    AgentStoppedSpeakingFrame,
    Frame,
    InterruptionFrame,
)
from realtime.processors.base import FrameProcessor

FRAME_MS = 20


class AudioOut(Protocol):
    """The carrier's output: one serialized message per call (ACS `AudioData` / `StopAudio`)."""

    async def send_audio(self, pcm: bytes) -> None: ...

    async def send_stop(self) -> None: ...


@dataclass(frozen=True)
class PacerConfig:
    lead_ms: int = 80


@dataclass
class _Clause:
    text: str
    start: int  # byte offset of its audio in the answer
    end: int
    complete: bool = False


@dataclass
class _Playback:
    response_id: int
    clauses: dict[int, _Clause] = field(default_factory=dict)
    queued: int = 0  # bytes of audio received for this answer
    play_starts: list[float] = field(default_factory=list)  # far-end start time of each sent frame
    started: bool = False


class OutputPacer(FrameProcessor):
    clears_on_interruption = True

    def __init__(
        self,
        *,
        out: AudioOut,
        sample_rate: int,
        conversation: Conversation,
        config: PacerConfig = PacerConfig(),
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__()
        self._out = out
        self._conversation = conversation
        self.config = config
        self._clock = clock
        self._sleep = sleep
        self._frame_bytes = frame_bytes(sample_rate, FRAME_MS)
        self._frame_s = FRAME_MS / 1000
        self._reframer = Reframer(self._frame_bytes)
        self._playbacks: dict[int, _Playback] = {}  # answers whose frames have arrived
        self._playback: _Playback | None = None  # the answer being paced
        self._play_at = 0.0  # far-end start time of the next frame
        self.stops_sent = 0

    async def queue_frame(self, frame: Frame) -> None:
        self._note(frame)
        await super().queue_frame(frame)

    def _note(self, frame: Frame) -> None:
        """Word bookkeeping as frames arrive (before they are paced), so clause lengths are known."""
        if isinstance(frame, AgentResponseStartedFrame):
            self._playbacks[frame.response_id] = _Playback(response_id=frame.response_id)
        elif isinstance(frame, AgentAudioFrame) and (playback := self._playbacks.get(frame.response_id)):
            clause = playback.clauses.setdefault(
                frame.clause_id, _Clause(text=frame.text, start=playback.queued, end=playback.queued)
            )
            playback.queued += len(frame.pcm)
            clause.end = playback.queued
        elif isinstance(frame, AgentClauseAudioEndFrame) and (playback := self._playbacks.get(frame.response_id)):
            if frame.clause_id in playback.clauses:
                playback.clauses[frame.clause_id].complete = True

    async def process_frame(self, frame: Frame) -> None:
        if isinstance(frame, AgentResponseStartedFrame):
            self._reframer.clear()
            self._playback = self._playbacks.get(frame.response_id)
            await self.push_frame(frame)
        elif isinstance(frame, AgentAudioFrame):
            playback = self._playback
            if playback is not None and frame.response_id == playback.response_id:
                for chunk in self._reframer.push(frame.pcm):
                    await self._send(playback, chunk)
        elif isinstance(frame, AgentClauseAudioEndFrame):
            pass
        elif isinstance(frame, AgentResponseEndedFrame):
            await self._finish(frame)
        else:
            await self.push_frame(frame)

    async def _send(self, playback: _Playback, chunk: bytes) -> None:
        now = self._clock()
        if self._play_at < now:  # first frame, or synthesis fell behind: playback (re)starts now
            self._play_at = now
        wait = self._play_at - self.config.lead_ms / 1000 - now
        if wait > 0:
            await self._sleep(wait)
        await self._out.send_audio(chunk)
        playback.play_starts.append(self._play_at)
        self._play_at += self._frame_s
        if not playback.started:
            playback.started = True
            self._conversation.agent_speaking = True
            await self.push_frame(AgentStartedSpeakingFrame(response_id=playback.response_id, at=self._clock()))

    async def _finish(self, frame: AgentResponseEndedFrame) -> None:
        playback = self._playback
        if playback is not None and playback.response_id == frame.response_id:
            tail = self._reframer.flush(pad=True)
            if tail is not None:
                await self._send(playback, tail)
            remaining = self._play_at - self._clock()
            if playback.started and remaining > 0:
                await self._sleep(remaining)
            for clause in playback.clauses.values():
                clause.complete = True
            self._playback = None
            self._playbacks.pop(playback.response_id, None)
            self._conversation.agent_speaking = False
            await self.push_frame(
                AgentStoppedSpeakingFrame(
                    response_id=playback.response_id,
                    heard_text=self.heard_text(playback, at=float("inf")),
                    interrupted=False,
                    at=self._clock(),
                )
            )
        await self.push_frame(frame)

    async def on_interruption(self, frame: InterruptionFrame) -> None:
        playback, self._playback = self._playback, None
        self._playbacks.clear()
        self._reframer.clear()
        now = self._clock()
        stop_sent_at = None
        if playback is not None and playback.started and self._play_at > now:
            await self._out.send_stop()
            self.stops_sent += 1
            stop_sent_at = self._clock()
        self._play_at = 0.0
        self._conversation.agent_speaking = False
        await self.push_frame(
            AgentStoppedSpeakingFrame(
                response_id=playback.response_id if playback else None,
                heard_text=self.heard_text(playback, at=now) if playback else "",
                interrupted=True,
                at=now,
                interruption_at=frame.at,
                stop_sent_at=stop_sent_at,
            )
        )

    def heard_so_far(self) -> str:
        """What the caller has heard of the answer playing now (for a call that ends mid-answer)."""
        return self.heard_text(self._playback, at=self._clock()) if self._playback else ""

    def heard_text(self, playback: _Playback, *, at: float) -> str:
        played = 0.0
        for start in playback.play_starts:
            if start >= at:
                break
            played += min(1.0, (at - start) / self._frame_s) * self._frame_bytes
        words: list[str] = []
        for clause in sorted(playback.clauses.values(), key=lambda c: c.start):
            if played >= clause.end and clause.complete:
                words.extend(clause.text.split())
                continue
            if played > clause.start and clause.end > clause.start:
                clause_words = clause.text.split()
                share = min(1.0, (played - clause.start) / (clause.end - clause.start))
                count = int(share * len(clause_words))
                words.extend(clause_words[: count if clause.complete else min(count, len(clause_words) - 1)])
            break
        return " ".join(words)
