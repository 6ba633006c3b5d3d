"""The signal queue never blocks the audio path and never loses a signal while Temporal is away."""

from __future__ import annotations

import asyncio

import pytest

from realtime.bridge import BridgeOverflow, PendingSignal, SignalQueue
from workflows.contracts import CallEnded, MediaAttached, Turn


class FlakyTemporal:
    """Refuses the first `failures` sends (as an unreachable or restarting server would)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.delivered: list[PendingSignal] = []

    async def __call__(self, signal: PendingSignal) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("temporal unavailable")
        self.delivered.append(signal)


async def test_signals_are_retried_until_delivered_in_order() -> None:
    temporal = FlakyTemporal(failures=5)
    queue = SignalQueue(temporal, initial_backoff=0.001, max_backoff=0.01)
    async with queue:
        bridge = queue.for_call("call-a")
        bridge.media_attached(MediaAttached(worker_id="w1", session_id="s1"))
        for sequence in (1, 2, 3):
            bridge.turn_completed(Turn(sequence=sequence, caller_text=f"t{sequence}"))
        bridge.call_ended(CallEnded(reason="socket_closed", worker_id="w1", last_sequence=3))
        assert await queue.drain(timeout=5)
    assert [s.name for s in temporal.delivered] == [
        "media_attached",
        "turn_completed",
        "turn_completed",
        "turn_completed",
        "call_ended",
    ]
    assert [s.payload.sequence for s in temporal.delivered if s.name == "turn_completed"] == [1, 2, 3]
    assert queue.retries == 5 and queue.delivered == 5


async def test_enqueueing_never_waits_for_temporal() -> None:
    blocked = asyncio.Event()

    async def never_answers(signal: PendingSignal) -> None:
        await blocked.wait()

    queue = SignalQueue(never_answers, maxsize=3)
    async with queue:
        bridge = queue.for_call("call-b")
        loop = asyncio.get_running_loop()
        started = loop.time()
        for sequence in range(3):
            bridge.turn_completed(Turn(sequence=sequence))
        assert loop.time() - started < 0.01
        # A full queue is an overflow the session counts, never a wait on the audio path.
        await asyncio.sleep(0)
        bridge.turn_completed(Turn(sequence=3))
        with pytest.raises(BridgeOverflow):
            bridge.turn_completed(Turn(sequence=4))
        blocked.set()
