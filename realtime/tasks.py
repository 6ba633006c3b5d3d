"""Owned tasks: every task a call starts is registered here and cancelled with a timeout."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

logger = logging.getLogger(__name__)


class TaskOwner:
    """Holds one call's tasks. The first unexpected exception is reported to `on_failure` (the
    session ends that call; other calls are untouched). `aclose` cancels the rest and waits at most
    `grace` seconds; a task that ignores cancellation is logged, never awaited forever."""

    def __init__(self, name: str, *, on_failure: Callable[[BaseException], None] | None = None) -> None:
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()
        self._on_failure = on_failure
        self._closed = False

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        if self._closed:
            coro.close()
            raise RuntimeError(f"{self.name}: task owner is closed; cannot start {name}")
        task = asyncio.create_task(coro, name=f"{self.name}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and self._on_failure is not None:
            self._on_failure(exc)

    async def aclose(self, *, grace: float = 2.0) -> None:
        self._closed = True
        await cancel_and_wait(list(self._tasks), grace=grace, owner=self.name)

    def __len__(self) -> int:
        return len(self._tasks)


async def cancel_and_wait(tasks: list[asyncio.Task[Any]], *, grace: float, owner: str = "") -> None:
    """Cancel `tasks` and wait for them, at most `grace` seconds."""
    current = asyncio.current_task()
    tasks = [t for t in tasks if t is not current and not t.done()]
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=grace)
    for task in pending:
        logger.error("%s: task %s did not stop within %.1fs of cancellation", owner, task.get_name(), grace)
