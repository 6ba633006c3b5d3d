"""Clause chunking: cuts the streamed answer into speakable clauses so synthesis starts on the
first clause before the whole answer exists.

The first clause of an answer may end at a comma, semicolon, colon or dash (once it has
`min_first_clause_chars`); later ones end at sentence ends. A clause longer than `max_clause_chars`
is cut at its last space. Whatever is left is flushed when the answer ends.
"""

from __future__ import annotations

import re
import time

from realtime.frames import (
    AgentClauseFrame,
    AgentResponseEndedFrame,
    AgentResponseStartedFrame,
    AgentTextFrame,
    Frame,
    InterruptionFrame,
)
from realtime.processors.base import FrameProcessor

SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*\s")
FIRST_CLAUSE_END = re.compile(r"([.!?…]+[\"')\]]*|[,;:]|\s[-–—])\s")


class ClauseChunker(FrameProcessor):
    clears_on_interruption = True

    def __init__(self, *, min_first_clause_chars: int = 10, max_clause_chars: int = 200) -> None:
        super().__init__()
        self.min_first_clause_chars = min_first_clause_chars
        self.max_clause_chars = max_clause_chars
        self._buffer = ""
        self._clauses = 0
        self._response_id = 0

    async def process_frame(self, frame: Frame) -> None:
        if isinstance(frame, AgentResponseStartedFrame):
            self._buffer, self._clauses, self._response_id = "", 0, frame.response_id
            await self.push_frame(frame)
        elif isinstance(frame, AgentTextFrame):
            self._buffer += frame.text
            while (clause := self._next_clause()) is not None:
                await self._emit(clause)
        elif isinstance(frame, AgentResponseEndedFrame):
            if self._buffer.strip():
                await self._emit(self._buffer)
            self._buffer = ""
            await self.push_frame(frame)
        else:
            await self.push_frame(frame)

    def _next_clause(self) -> str | None:
        pattern = FIRST_CLAUSE_END if self._clauses == 0 else SENTENCE_END
        start = self.min_first_clause_chars if self._clauses == 0 else 0
        match = pattern.search(self._buffer, max(0, start - 2))
        if match is not None and match.end() > 1:
            cut = match.end()
        elif len(self._buffer) > self.max_clause_chars:
            space = self._buffer.rfind(" ", 0, self.max_clause_chars)
            cut = space + 1 if space > 0 else self.max_clause_chars
        else:
            return None
        clause, self._buffer = self._buffer[:cut], self._buffer[cut:]
        return clause

    async def _emit(self, clause: str) -> None:
        text = clause.strip()
        if not text:
            return
        self._clauses += 1
        await self.push_frame(
            AgentClauseFrame(text=text, response_id=self._response_id, clause_id=self._clauses, at=time.monotonic())
        )

    async def on_interruption(self, frame: InterruptionFrame) -> None:
        self._buffer = ""
