"""Turn detection: the caller's turn ends at end of speech (VAD hangover) once recognition has
given its final text. Empty finals (noise, a cough) end no turn.

`min_chars` drops finals too short to answer. With `final_timeout_ms`, the newest partial stands in
for a final that is late (a slow engine); 0 waits for the final.
"""

from __future__ import annotations

import asyncio
import time

from realtime.frames import (
    CallerStartedSpeakingFrame,
    CallerStoppedSpeakingFrame,
    CallerTurnFrame,
    Frame,
    TranscriptFrame,
)
from realtime.processors.base import FrameProcessor


class TurnDetector(FrameProcessor):
    def __init__(self, *, min_chars: int = 1, final_timeout_ms: int = 0) -> None:
        super().__init__()
        self.min_chars = min_chars
        self.final_timeout = final_timeout_ms / 1000
        self._partial = ""
        self._stopped = False
        self._fallback: asyncio.TimerHandle | None = None
        self._emitted_by_fallback = False

    async def process_frame(self, frame: Frame) -> None:
        await self.push_frame(frame)
        if isinstance(frame, CallerStartedSpeakingFrame):
            self._reset()
        elif isinstance(frame, TranscriptFrame) and not frame.is_final:
            self._partial = frame.text
        elif isinstance(frame, CallerStoppedSpeakingFrame):
            self._stopped = True
            if self.final_timeout > 0:
                self._fallback = asyncio.get_running_loop().call_later(self.final_timeout, self._on_late_final)
        elif isinstance(frame, TranscriptFrame) and frame.is_final:
            emitted, stopped = self._emitted_by_fallback, self._stopped
            self._reset()
            if stopped and not emitted:
                await self._end_turn(frame.text)

    def _on_late_final(self) -> None:
        self._fallback = None
        if self._stopped and self._partial and not self._emitted_by_fallback:
            self._emitted_by_fallback = True
            self._queue.put_nowait(CallerTurnFrame(text=self._partial, at=time.monotonic()))

    async def _end_turn(self, text: str) -> None:
        if len(text.strip()) >= self.min_chars:
            await self.push_frame(CallerTurnFrame(text=text.strip(), at=time.monotonic()))

    def _reset(self) -> None:
        if self._fallback is not None:
            self._fallback.cancel()
            self._fallback = None
        self._partial, self._stopped, self._emitted_by_fallback = "", False, False
