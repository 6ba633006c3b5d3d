"""The pipeline's sink: closes turns when the pacer reports what was heard, and carries out the
actions the brain asked for once the audio before them has played (through the workflow)."""

from __future__ import annotations

import logging

from realtime.actions import CallActions
from realtime.conversation import Conversation
from realtime.frames import AgentStoppedSpeakingFrame, EndCallRequestedFrame, Frame, TransferRequestedFrame
from realtime.processors.base import FrameProcessor

logger = logging.getLogger(__name__)


class TurnRecorder(FrameProcessor):
    def __init__(self, *, conversation: Conversation, actions: CallActions) -> None:
        super().__init__()
        self._conversation = conversation
        self._actions = actions
        self.hang_up_requested = False

    async def process_frame(self, frame: Frame) -> None:
        if isinstance(frame, AgentStoppedSpeakingFrame):
            self._conversation.finish_turn(heard_text=frame.heard_text, interrupted=frame.interrupted)
        elif isinstance(frame, EndCallRequestedFrame) and not self.hang_up_requested:
            self.hang_up_requested = True
            await self._act("hang-up", self._actions.hang_up(reason=frame.reason))
        elif isinstance(frame, TransferRequestedFrame):
            await self._act("transfer", self._actions.transfer(target=frame.target, reason=frame.reason))
        await self.push_frame(frame)

    async def _act(self, what: str, request: object) -> None:
        try:
            result = await request  # type: ignore[misc]
        except Exception:  # the workflow being unreachable must not end the media session
            logger.exception("call %s: %s request failed", self._conversation.call_id, what)
            return
        if not getattr(result, "accepted", False):
            logger.warning("call %s: %s refused: %s", self._conversation.call_id, what, getattr(result, "detail", ""))
