"""The agent brain: answers each caller turn (and greets), streaming the answer as text.

Opens the turn in the conversation, brackets the answer with `AgentResponseStartedFrame` /
`AgentResponseEndedFrame`, and forwards text deltas. Actions the brain asks for (end the call,
transfer) are pushed after the answer's end, so the pacer lets them through only once the words
before them have played. A handoff is decided by the workflow; when accepted, the new agent's brain
takes over and greets. Tools run inside the brain through the `ToolRunner` it was built with; the
`ToolCallRequested` event is only observed here. Cancelling this processor's work is barge-in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

from realtime.actions import CallActions
from realtime.conversation import Conversation
from realtime.engines.base import (
    Brain,
    BrainEvent,
    BrainFactory,
    EndCallRequested,
    Grammar,
    HandoffRequested,
    TextDelta,
    ToolCallRequested,
    ToolRunner,
    TransferRequested,
)
from realtime.frames import (
    AgentResponseEndedFrame,
    AgentResponseStartedFrame,
    AgentTextFrame,
    CallerTurnFrame,
    EndCallRequestedFrame,
    Frame,
    GreetFrame,
    ToolCalledFrame,
    TransferRequestedFrame,
)
from realtime.processors.base import FrameProcessor, closing_stream

logger = logging.getLogger(__name__)


class BrainProcessor(FrameProcessor):
    clears_on_interruption = True

    def __init__(
        self,
        *,
        brains: BrainFactory,
        conversation: Conversation,
        tools: ToolRunner,
        actions: CallActions,
    ) -> None:
        super().__init__()
        self._brains = brains
        self._conversation = conversation
        self._tools = tools
        self._actions = actions
        self._brain: Brain = brains.new_brain(call_id=conversation.call_id, agent=conversation.agent, tools=tools)

    def expected_grammar(self) -> Grammar | None:
        return self._brain.expected_grammar()

    async def process_frame(self, frame: Frame) -> None:
        if isinstance(frame, GreetFrame):
            await self._answer("", self._brain.greet(self._conversation.context()))
        elif isinstance(frame, CallerTurnFrame):
            await self.push_frame(frame)
            await self._answer(frame.text, self._brain.respond(frame.text, self._conversation.context()))
        else:
            await self.push_frame(frame)

    async def _answer(self, caller_text: str, events: AsyncIterator[BrainEvent]) -> None:
        response_id = self._conversation.begin_turn(caller_text)
        await self.push_frame(AgentResponseStartedFrame(response_id=response_id, at=time.monotonic()))
        after: list[Frame] = []
        handoff: HandoffRequested | None = None
        async with closing_stream(events) as stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    if event.text:
                        await self.push_frame(AgentTextFrame(text=event.text, response_id=response_id))
                elif isinstance(event, ToolCallRequested):
                    await self.push_frame(ToolCalledFrame(name=event.name, arguments=dict(event.arguments)))
                elif isinstance(event, EndCallRequested):
                    after.append(EndCallRequestedFrame(reason=event.reason))
                elif isinstance(event, TransferRequested):
                    after.append(TransferRequestedFrame(target=event.target, reason=event.reason))
                elif isinstance(event, HandoffRequested):
                    handoff = event
        await self.push_frame(AgentResponseEndedFrame(response_id=response_id))
        for frame in after:
            await self.push_frame(frame)
        if handoff is not None:
            await self._hand_off(handoff)

    async def _hand_off(self, request: HandoffRequested) -> None:
        decision = await self._actions.handoff(target_agent=request.target_agent, reason=request.reason)
        if not decision.accepted:
            logger.info(
                "call %s: handoff to %s refused: %s",
                self._conversation.call_id,
                request.target_agent,
                decision.detail,
            )
            return
        self._conversation.agent = request.target_agent
        self._brain = self._brains.new_brain(
            call_id=self._conversation.call_id, agent=request.target_agent, tools=self._tools
        )
        await self._answer("", self._brain.greet(self._conversation.context()))
