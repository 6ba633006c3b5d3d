"""One call's conversation: turn sequence numbers, the pending turn, the brain's history.

Shared by the processors of one call only (never across calls). The brain processor opens a turn
when it starts an answer; the turn recorder closes it when the pacer reports what was heard.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from realtime.engines.base import BrainContext, ConversationTurn
from workflows.contracts import Turn, TurnTimings


@dataclass
class PendingTurn:
    sequence: int
    response_id: int
    caller_text: str
    agent: str
    started_at: str


class Conversation:
    def __init__(
        self,
        *,
        call_id: str,
        agent: str,
        on_turn: Callable[[Turn], None],
        timings: Callable[[], TurnTimings] = TurnTimings,
    ) -> None:
        self.call_id = call_id
        self.agent = agent
        self.history: list[ConversationTurn] = []
        self.agent_speaking = False  # set by the pacer: agent audio is playing at the far end
        self._on_turn = on_turn
        self._timings = timings
        self._pending: PendingTurn | None = None
        self._sequence = 0
        self._response_id = 0

    @property
    def agent_busy(self) -> bool:
        """An answer is being prepared or played (barge-in applies)."""
        return self._pending is not None

    @property
    def last_sequence(self) -> int:
        return self._sequence

    @property
    def pending(self) -> PendingTurn | None:
        return self._pending

    def begin_turn(self, caller_text: str) -> int:
        """Open the turn that answers `caller_text` ("" for the greeting); returns its response id."""
        if self._pending is not None:  # an answer that never reached the pacer: nothing was heard
            self.finish_turn(heard_text="", interrupted=True)
        self._sequence += 1
        self._response_id += 1
        if caller_text:
            self.history.append(ConversationTurn(role="caller", text=caller_text))
        self._pending = PendingTurn(
            sequence=self._sequence,
            response_id=self._response_id,
            caller_text=caller_text,
            agent=self.agent,
            started_at=datetime.now(UTC).isoformat(),
        )
        return self._response_id

    def finish_turn(self, *, heard_text: str, interrupted: bool) -> Turn | None:
        pending, self._pending = self._pending, None
        if pending is None:
            return None
        if heard_text:
            self.history.append(ConversationTurn(role="agent", text=heard_text, interrupted=interrupted))
        turn = Turn(
            sequence=pending.sequence,
            caller_text=pending.caller_text,
            agent_text=heard_text,
            agent=pending.agent,
            interrupted=interrupted,
            started_at=pending.started_at,
            timings=self._timings(),
        )
        self._on_turn(turn)
        return turn

    def context(self) -> BrainContext:
        return BrainContext(call_id=self.call_id, agent=self.agent, history=tuple(self.history))
