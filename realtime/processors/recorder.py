"""The pipeline's sink: closes turns when the pacer reports what was heard, and carries out the
actions the brain asked for once the audio before them has played (through the workflow).

A transfer can take a minute to be decided (ACS rings the target), so it runs in its own task: the
audio path never waits on it. When it is refused or fails, the frame's `on_refused` tells the brain,
which says so to the caller and goes on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

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
        self._transfers: set[asyncio.Task[None]] = set()

    async def process_frame(self, frame: Frame) -> None:
        if isinstance(frame, AgentStoppedSpeakingFrame):
            self._conversation.finish_turn(heard_text=frame.heard_text, interrupted=frame.interrupted)
        elif isinstance(frame, EndCallRequestedFrame) and not self.hang_up_requested:
            self.hang_up_requested = True
            await self._act("hang-up", self._actions.hang_up(reason=frame.reason))
        elif isinstance(frame, TransferRequestedFrame):
            self._spawn_transfer(frame)
        await self.push_frame(frame)

    def _spawn_transfer(self, frame: TransferRequestedFrame) -> None:
        on_refused: Callable[[str], Awaitable[None]] | None = getattr(frame, "on_refused", None)

        async def transfer() -> None:
            refused = await self._act("transfer", self._actions.transfer(target=frame.target, reason=frame.reason))
            if refused is not None and on_refused is not None:
                await on_refused(refused)

        name = f"transfer-{len(self._transfers) + 1}"
        task = self._owner.spawn(transfer(), name=name) if self._owner is not None else asyncio.create_task(transfer())
        self._transfers.add(task)
        task.add_done_callback(self._transfers.discard)

    async def _act(self, what: str, request: Awaitable[object]) -> str | None:
        """Carry out one request; None when accepted, else why not."""
        try:
            result = await request
        except Exception as err:  # the workflow being unreachable must not end the media session
            logger.exception("call %s: %s request failed", self._conversation.call_id, what)
            return str(err) or type(err).__name__
        if not getattr(result, "accepted", False):
            detail = str(getattr(result, "detail", ""))
            logger.warning("call %s: %s refused: %s", self._conversation.call_id, what, detail)
            return detail or "refused"
        return None
