"""The agent brain: answers each caller turn (and greets), streaming the answer as text.

Opens the turn in the conversation, brackets the answer with `AgentResponseStartedFrame` /
`AgentResponseEndedFrame`, and forwards text deltas. Actions the brain asks for (end the call,
transfer) are pushed after the answer's end, so the pacer lets them through only once the words
before them have played. A handoff is decided by the workflow; when accepted, the new agent's brain
takes over and announces itself in the same answer (one turn); when refused, the caller is told.
Tools run inside the brain through the `ToolRunner` it was built with; the
`ToolCallRequested` event is only observed here. Cancelling this processor's work is barge-in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import ClassVar

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
    ControlFrame,
    EndCallRequestedFrame,
    Frame,
    GreetFrame,
    ToolCalledFrame,
    TransferRequestedFrame,
)
from realtime.processors.base import FrameProcessor, closing_stream

logger = logging.getLogger(__name__)

HANDOFF_REFUSED_LINE = "I'm sorry, I can't pass you over right now. Let's carry on."
TRANSFER_REFUSED_LINE = "I'm sorry, I couldn't transfer you just now. Let's carry on."


@dataclass(frozen=True, kw_only=True)
class AgentTransferFrame(TransferRequestedFrame):
    """A transfer the brain asked for; `on_refused(detail)` is called when it did not happen."""

    on_refused: Callable[[str], Awaitable[None]] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, kw_only=True)
class TransferRefusedFrame(ControlFrame):
    """Back to the brain: the transfer failed or was refused, so the agent tells the caller."""

    uninterruptible: ClassVar[bool] = True
    detail: str = ""


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
        elif isinstance(frame, TransferRefusedFrame):
            await self._answer("", self._refusal("transfer_refused", frame.detail, TRANSFER_REFUSED_LINE))
        elif isinstance(frame, CallerTurnFrame):
            await self.push_frame(frame)
            await self._answer(frame.text, self._brain.respond(frame.text, self._conversation.context()))
        else:
            await self.push_frame(frame)

    async def _answer(self, caller_text: str, events: AsyncIterator[BrainEvent]) -> None:
        response_id = self._conversation.begin_turn(caller_text)
        await self.push_frame(AgentResponseStartedFrame(response_id=response_id, at=time.monotonic()))
        after: list[Frame] = []
        handoff = await self._stream(events, response_id, after)
        if handoff is not None:
            # The next agent's announcement (or the refusal) is part of the same answer: one turn.
            await self._stream(await self._hand_off(handoff), response_id, after)
        await self.push_frame(AgentResponseEndedFrame(response_id=response_id))
        for frame in after:
            await self.push_frame(frame)

    async def _stream(
        self, events: AsyncIterator[BrainEvent], response_id: int, after: list[Frame]
    ) -> HandoffRequested | None:
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
                    after.append(
                        AgentTransferFrame(target=event.target, reason=event.reason, on_refused=self._transfer_refused)
                    )
                elif isinstance(event, HandoffRequested):
                    handoff = event
        return handoff

    async def _hand_off(self, request: HandoffRequested) -> AsyncIterator[BrainEvent]:
        """Ask the workflow; accepted: the new agent's brain announces itself, else the caller is told."""
        decision = await self._actions.handoff(target_agent=request.target_agent, reason=request.reason)
        if not decision.accepted:
            logger.info(
                "call %s: handoff to %s refused: %s",
                self._conversation.call_id,
                request.target_agent,
                decision.detail,
            )
            return self._refusal("handoff_refused", request.target_agent, HANDOFF_REFUSED_LINE)
        self._conversation.agent = request.target_agent
        self._brain = self._brains.new_brain(
            call_id=self._conversation.call_id, agent=request.target_agent, tools=self._tools
        )
        return self._brain.greet(self._conversation.context())

    async def _transfer_refused(self, detail: str) -> None:
        await self.queue_frame(TransferRefusedFrame(detail=detail))

    def _refusal(self, hook: str, detail: str, fallback: str) -> AsyncGenerator[BrainEvent, None]:
        """The brain's own words for a refused handoff or transfer, or a generic line."""
        handler = getattr(self._brain, hook, None)
        if handler is not None:
            events: AsyncGenerator[BrainEvent, None] = handler(detail)
            return events
        return _line(fallback)


async def _line(text: str) -> AsyncGenerator[BrainEvent, None]:
    yield TextDelta(text)
