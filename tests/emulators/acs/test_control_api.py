"""The control API other processes (the `switchboard call` CLI) use, the process entry point, and the
script data format."""

from __future__ import annotations

import asyncio
import re
import sys

import httpx
import pytest

from emulators.acs import (
    AcsEmulator,
    HangUp,
    PlayWav,
    Say,
    ScriptError,
    SendDtmf,
    Silence,
    WaitAgentDone,
    WaitAgentHeard,
    dump_script,
    load_script,
)

from .conftest import ACCESS_KEY, APP_NUMBER, CALLER, StubApp


async def test_control_api_places_a_call_reports_it_and_hangs_up(emulator: AcsEmulator, stub_app: StubApp) -> None:
    async with httpx.AsyncClient(base_url=emulator.endpoint) as http:
        health = await http.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"

        placed = await http.post(
            "/emulator/calls",
            json={"caller": CALLER, "callee": APP_NUMBER, "script": [{"say": "hi"}], "deliveries": 2},
        )
        assert placed.status_code == 200
        call_id = placed.json()["call_id"]
        await stub_app.wait_incoming(2)

        summary = (await http.get(f"/emulator/calls/{call_id}")).json()
        assert summary["state"] == "ringing"
        assert summary["caller"] == CALLER and summary["script"]["steps"] == 1
        assert "incoming_delivered" in summary["milestones"]
        assert set(summary["media"]) >= {"late_frames", "stop_audio_count", "frames_after_stop"}

        listed = (await http.get("/emulator/calls")).json()["calls"]
        assert [c["call_id"] for c in listed] == [call_id]

        hung = await http.post(f"/emulator/calls/{call_id}/hang-up")
        assert hung.json()["state"] == "failed"  # abandoned before anyone answered

        missing = await http.get("/emulator/calls/nope")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "CallNotFound"
        bad = await http.post("/emulator/calls", json={"caller": CALLER, "callee": APP_NUMBER, "script": [{"x": 1}]})
        assert bad.status_code == 422


async def test_control_api_reports_a_failed_event_grid_handshake_as_502(
    emulator: AcsEmulator, stub_app: StubApp
) -> None:
    stub_app.validate = False
    async with httpx.AsyncClient(base_url=emulator.endpoint) as http:
        response = await http.post("/emulator/calls", json={"caller": CALLER, "callee": APP_NUMBER})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "EventGridValidationError"


def test_script_round_trips_between_dataclasses_and_data() -> None:
    steps = [
        WaitAgentDone(quiet_ms=500, timeout=5),
        Say("hello"),
        Say("hi", voice="en-us+m3"),
        Silence(1.5),
        WaitAgentHeard(ms=200),
        PlayWav("/tmp/x.wav"),
        SendDtmf("12#"),
        HangUp(),
    ]
    data = dump_script(steps)
    assert load_script(data) == steps
    assert load_script([{"say": "x"}, {"silence": 2}, {"wait_agent_done": None}, {"hang_up": True}]) == [
        Say("x"),
        Silence(2),
        WaitAgentDone(),
        HangUp(),
    ]
    with pytest.raises(ScriptError, match="unknown step"):
        load_script([{"shout": "x"}])
    with pytest.raises(ScriptError, match="unknown fields"):
        load_script([{"say": {"txt": "x"}}])


async def test_process_entry_point_serves_health(stub_app: StubApp) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "emulators.acs",
        "--port",
        "0",
        "--access-key",
        ACCESS_KEY,
        "--event-grid-url",
        stub_app.event_grid_url,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        endpoint = None
        async with asyncio.timeout(10):
            while endpoint is None:
                line = (await process.stderr.readline()).decode()
                assert line, "the emulator process exited early"
                match = re.search(r"ready at (http://\S+)", line)
                endpoint = match.group(1) if match else None
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{endpoint}/health")).json()["status"] == "ok"
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)
    assert process.returncode == 0
