"""Frame processors and the flat pipeline that links them.

Each processor owns one task that takes data and control frames from its queue in order. System
frames skip the queue: `queue_frame` handles them at once, in the caller's task, so an interruption
reaches every processor downstream within one call chain. Agent-side processors
(`clears_on_interruption = True`) then cancel their in-flight work (the brain stream, synthesis,
pacing), drop the frames still queued (except `uninterruptible` ones) and start afresh.

Observers (metrics, logs) see every frame a processor pushes; they are called synchronously and must
be cheap. They are not processors and cannot change the flow.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import ClassVar, Protocol, TypeVar

from realtime.frames import Frame, InterruptionFrame, SystemFrame
from realtime.tasks import TaskOwner, cancel_and_wait

CANCEL_TIMEOUT = 1.0

T = TypeVar("T")


@asynccontextmanager
async def closing_stream(stream: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """Close an engine's async iterator on exit (cancellation included), if it can be closed."""
    try:
        yield stream
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


class FrameObserver(Protocol):
    def on_frame(self, source: str, frame: Frame) -> None: ...


class FrameProcessor:
    clears_on_interruption: ClassVar[bool] = False

    def __init__(self, *, name: str | None = None) -> None:
        self.name = name or type(self).__name__
        self._next: FrameProcessor | None = None
        self._queue: asyncio.Queue[Frame] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._owner: TaskOwner | None = None
        self._observers: Sequence[FrameObserver] = ()

    # ------------------------------------------------------------ wiring

    def link(self, downstream: FrameProcessor) -> FrameProcessor:
        self._next = downstream
        return downstream

    def start(self, owner: TaskOwner, *, observers: Sequence[FrameObserver] = ()) -> None:
        self._owner = owner
        self._observers = observers
        self._task = owner.spawn(self._run(), name=self.name)

    # ------------------------------------------------------------ flow

    async def queue_frame(self, frame: Frame) -> None:
        if isinstance(frame, SystemFrame):
            if isinstance(frame, InterruptionFrame) and self.clears_on_interruption:
                await self._interrupt(frame)
            await self.process_frame(frame)
        else:
            self._queue.put_nowait(frame)

    async def push_frame(self, frame: Frame) -> None:
        for observer in self._observers:
            observer.on_frame(self.name, frame)
        if self._next is not None:
            await self._next.queue_frame(frame)

    async def process_frame(self, frame: Frame) -> None:
        """Handle `frame`; the default forwards it. Override and forward what you do not handle."""
        await self.push_frame(frame)

    async def on_interruption(self, frame: InterruptionFrame) -> None:
        """Reset per-answer state after in-flight work was cancelled (agent-side processors)."""

    # ------------------------------------------------------------ internals

    async def _run(self) -> None:
        while True:
            frame = await self._queue.get()
            await self.process_frame(frame)

    async def _interrupt(self, interruption: InterruptionFrame) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task], grace=CANCEL_TIMEOUT, owner=self.name)
        kept: list[Frame] = []
        while not self._queue.empty():
            frame = self._queue.get_nowait()
            if frame.uninterruptible:
                kept.append(frame)
        for frame in kept:
            self._queue.put_nowait(frame)
        await self.on_interruption(interruption)
        if self._owner is not None:
            self._task = self._owner.spawn(self._run(), name=self.name)

    def pending(self) -> int:
        return self._queue.qsize()


class Pipeline:
    """A flat list of processors, linked in order; frames enter at the first."""

    def __init__(self, processors: Sequence[FrameProcessor], *, observers: Sequence[FrameObserver] = ()):
        if not processors:
            raise ValueError("a pipeline needs at least one processor")
        self.processors = list(processors)
        self._observers = list(observers)
        for upstream, downstream in zip(self.processors, self.processors[1:], strict=False):
            upstream.link(downstream)

    def start(self, owner: TaskOwner) -> None:
        for processor in self.processors:
            processor.start(owner, observers=self._observers)

    async def push(self, frame: Frame) -> None:
        await self.processors[0].queue_frame(frame)
