"""Realtime worker death -> the call recovered, on the local multi-process stack.

The supervised stack runs as in `switchboard dev`; the ACS emulator runs in this process. `--calls`
callers are on the line at once, each past its greeting, when the realtime worker gets SIGKILL.
Per call, from the kill (all on this process's monotonic clock):
- detected: the workflow's state query first shows `recovering` (polled every 50 ms);
- apology: ACS receives the `:play` request with the apology;
- transferred: ACS receives `:transferToParticipant` for the human queue;
and whether every turn the workflow had before the kill is still there, once, in order. The
supervisor restarts the worker; one more call after it shows the stack serves calls again.

    .venv/bin/python -m bench.recovery --calls 10 --heartbeat-timeout 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import sys
import time
from typing import Any

from temporalio.client import Client

from bench.stack import bench_stack, percentile, record_figures
from workflows.call import CallWorkflow
from workflows.contracts import CallState, CallStatus, call_workflow_id

WAITING_CALLER: list[dict[str, Any]] = [
    {"wait_agent_done": {"quiet_ms": 500, "timeout": 60}},
    {"silence": 120},
    {"hang_up": True},
]
GREETING_THEN_HANG_UP: list[dict[str, Any]] = [{"wait_agent_done": {"quiet_ms": 500, "timeout": 60}}, {"hang_up": True}]


async def _state(client: Client, correlation_id: str) -> CallState:
    handle = client.get_workflow_handle(call_workflow_id(correlation_id), result_type=CallState)
    return await handle.query(CallWorkflow.state)


def _progress(line: str) -> None:
    print(f"[bench.recovery] {line}", file=sys.stderr, flush=True)


async def _result(client: Client, correlation_id: str) -> CallState:
    return await client.get_workflow_handle(call_workflow_id(correlation_id), result_type=CallState).result()


async def _greeted(client: Client, correlation_id: str) -> None:
    while True:
        if (await _state(client, correlation_id)).turns:
            return
        await asyncio.sleep(0.1)


async def _detected_at(client: Client, correlation_id: str) -> float:
    while True:
        state = await _state(client, correlation_id)
        if state.status in (CallStatus.RECOVERING, CallStatus.RECOVERED):
            return time.perf_counter()
        await asyncio.sleep(0.05)


async def run(calls: int, heartbeat_timeout: float, base_port: int) -> dict[str, Any]:
    async with bench_stack(base_port, realtime={"watchdog_heartbeat_timeout_seconds": heartbeat_timeout}) as stack:
        client = await Client.connect(stack.settings.temporal.address)
        emulator = stack.emulator
        placed = [
            await emulator.place_call(caller=f"+1555{i:07d}", callee="+15550009999", script=WAITING_CALLER)
            for i in range(calls)
        ]
        async with asyncio.timeout(120):
            for call in placed:
                await _greeted(client, call.call_id)
        before = {call.call_id: await _state(client, call.call_id) for call in placed}
        _progress(f"{calls} calls past their greeting; killing the realtime worker")

        pid = stack.supervisor.pid("realtime-worker")
        assert pid is not None, "no realtime worker"
        killed_at = time.perf_counter()
        os.kill(pid, signal.SIGKILL)
        detected = await asyncio.gather(*(_detected_at(client, call.call_id) for call in placed))
        _progress("all calls recovering")
        finals = await asyncio.gather(*(_result(client, call.call_id) for call in placed))
        _progress("all calls ended")

        apology_ms, transfer_ms, kept, recovered = [], [], 0, 0
        for call, final in zip(placed, finals, strict=True):
            requests = [r for r in emulator.requests if r.call_connection_id == call.call_connection_id]
            play = next(r for r in requests if r.path.endswith(":play"))
            transfer = next(r for r in requests if r.path.endswith(":transferToParticipant"))
            apology_ms.append((play.received_at - killed_at) * 1000)
            transfer_ms.append((transfer.received_at - killed_at) * 1000)
            recovered += final.status == CallStatus.RECOVERED
            had = [t.sequence for t in before[call.call_id].turns]
            sequences = [t.sequence for t in final.turns]
            kept += sequences[: len(had)] == had and sequences == sorted(set(sequences))
        detection_ms = [(at - killed_at) * 1000 for at in detected]

        # The supervisor restarts the worker; a new call is served end to end.
        after = await emulator.place_call(caller="+15559999999", callee="+15550009999", script=GREETING_THEN_HANG_UP)
        served = await _result(client, after.call_id)
        _progress(f"a call after the restart: {served.status}")
    return {
        "calls": calls,
        "heartbeat_timeout_s": heartbeat_timeout,
        "recovered": recovered,
        "turns_kept": kept,
        "detect_p50_ms": round(percentile(detection_ms, 50)),
        "detect_max_ms": round(max(detection_ms)),
        "apology_p50_ms": round(percentile(apology_ms, 50)),
        "apology_max_ms": round(max(apology_ms)),
        "transfer_p50_ms": round(percentile(transfer_ms, 50)),
        "transfer_max_ms": round(max(transfer_ms)),
        "call_after_restart": str(served.status),
    }


def record(result: dict[str, Any]) -> None:
    record_figures(
        {"recovery_detect_p50_ms": result["detect_p50_ms"], "recovery_transfer_max_ms": result["transfer_max_ms"]}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--heartbeat-timeout", type=float, default=5.0, help="watchdog heartbeat timeout (s)")
    parser.add_argument("--base-port", type=int, default=18800, help="first of 7 consecutive loopback ports")
    parser.add_argument("--record", action="store_true", help="write the recovery figures to docs/benchmarks.json")
    args = parser.parse_args()
    result = asyncio.run(run(args.calls, args.heartbeat_timeout, args.base_port))
    result["machine"] = f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}"
    print(json.dumps(result, indent=2))
    if args.record:
        record(result)
    sys.exit(0 if result["recovered"] == result["calls"] == result["turns_kept"] else 1)


if __name__ == "__main__":
    main()
