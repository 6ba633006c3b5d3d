"""Barge-in: caller speech onset while the agent is answering becomes an `InterruptionFrame`.

The VAD has already applied the false barge-in guards (minimum duration, echo level); this
processor only decides. The interruption is a system frame: it reaches every processor downstream
at once, ahead of anything they have queued.
"""

from __future__ import annotations

from realtime.conversation import Conversation
from realtime.frames import CallerStartedSpeakingFrame, Frame, InterruptionFrame
from realtime.processors.base import FrameProcessor


class BargeInGate(FrameProcessor):
    def __init__(self, *, conversation: Conversation, enabled: bool = True) -> None:
        super().__init__()
        self._conversation = conversation
        self.enabled = enabled
        self.interruptions = 0

    async def process_frame(self, frame: Frame) -> None:
        if isinstance(frame, CallerStartedSpeakingFrame) and self.enabled and self._conversation.agent_busy:
            self.interruptions += 1
            await self.push_frame(InterruptionFrame(at=frame.at))
        await self.push_frame(frame)
