"""The media watchdog activity, run by Temporal's activity test environment: it heartbeats while
its session is open, returns how the session ended, and answers at once for sessions that already
closed or that this worker never held."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.testing import ActivityEnvironment

from realtime.watchdog import MediaSessionRegistry, MediaWatchdog, media_task_queue
from workflows.contracts import HoldMediaInput, MediaHeld


async def test_the_watchdog_heartbeats_while_the_session_is_open_and_returns_its_end() -> None:
    registry = MediaSessionRegistry()
    registry.opened("s1")
    env = ActivityEnvironment()
    beats: list[object] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    watching = asyncio.create_task(
        env.run(
            MediaWatchdog(registry).hold_media_session,
            HoldMediaInput(workflow_id="call-1", session_id="s1", heartbeat_seconds=0.1),
        )
    )
    await asyncio.sleep(0.45)
    assert not watching.done()
    assert len(beats) >= 3, "no heartbeats while the session is open"
    registry.closed("s1", "caller_hung_up")
    held = await asyncio.wait_for(watching, 2)
    assert held == MediaHeld(session_id="s1", held=True, reason="caller_hung_up")


async def test_a_session_closed_before_its_watchdog_started_ends_at_once() -> None:
    registry = MediaSessionRegistry()
    registry.opened("s2")
    registry.closed("s2", "socket_closed")
    held = await ActivityEnvironment().run(
        MediaWatchdog(registry).hold_media_session, HoldMediaInput(workflow_id="call-2", session_id="s2")
    )
    assert held == MediaHeld(session_id="s2", held=True, reason="socket_closed")


async def test_a_session_this_worker_never_held_is_reported_not_held() -> None:
    held = await ActivityEnvironment().run(
        MediaWatchdog(MediaSessionRegistry()).hold_media_session,
        HoldMediaInput(workflow_id="call-3", session_id="nope"),
    )
    assert held == MediaHeld(session_id="nope", held=False, reason="unknown_session")


async def test_cancelling_the_watchdog_stops_it() -> None:
    registry = MediaSessionRegistry()
    registry.opened("s4")
    env = ActivityEnvironment()
    watching = asyncio.create_task(
        env.run(
            MediaWatchdog(registry).hold_media_session,
            HoldMediaInput(workflow_id="call-4", session_id="s4", heartbeat_seconds=0.1),
        )
    )
    await asyncio.sleep(0.2)
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(watching, 2)
    assert registry.holds("s4")  # the session itself is not the watchdog's to end


def test_closed_sessions_are_remembered_boundedly() -> None:
    registry = MediaSessionRegistry()
    for number in range(5000):
        registry.opened(f"s{number}")
        registry.closed(f"s{number}", "done")
    assert not registry.holds("s4999")
    assert len(registry._closed) <= 4096


def test_each_worker_process_has_its_own_watchdog_queue() -> None:
    assert media_task_queue("calls", "vm-1a2b") == "calls-media-vm-1a2b"
    assert media_task_queue("calls", "vm-1a2b") != media_task_queue("calls", "vm-3c4d")
