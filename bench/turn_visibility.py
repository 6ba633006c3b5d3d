"""Turn signal -> visible in the workflow's state query, on the local multi-process stack.

The realtime worker's bridge sends each finished turn as the `turn_completed` signal; back-office
views read the `state` query. This measures that path against a live call's workflow: t0 = just
before the signal RPC (what the bridge does), t1 = the first `state` query answer that holds the
turn, queried back to back from the moment the signal returns. `--turns` signals, `--interval`
apart, one call on the line (its greeting and media running as usual).

    .venv/bin/python -m bench.turn_visibility --turns 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from typing import Any

from temporalio.client import Client

from bench.stack import bench_stack, record_figures, summary_ms
from workflows.call import CallWorkflow
from workflows.contracts import CallState, Turn, TurnTimings, call_workflow_id

FIRST_SEQUENCE = 10_000  # far above the call's own turns


async def run(turns: int, interval: float, base_port: int) -> dict[str, Any]:
    async with bench_stack(base_port) as stack:
        client = await Client.connect(stack.settings.temporal.address)
        script: list[dict[str, Any]] = [{"silence": turns * interval + 30}, {"hang_up": True}]
        call = await stack.emulator.place_call(caller="+15551234567", callee="+15550009999", script=script)
        await call.wait_for("media_opened", timeout=30)
        handle = client.get_workflow_handle(call_workflow_id(call.call_id), result_type=CallState)
        latencies: list[float] = []
        for index in range(turns):
            sequence = FIRST_SEQUENCE + index
            turn = Turn(
                sequence=sequence,
                caller_text="bench caller text",
                agent_text="bench agent text",
                agent="default",
                timings=TurnTimings(voice_to_voice_ms=400.0),
            )
            started = time.perf_counter()
            await handle.signal(CallWorkflow.turn_completed, turn)
            while not any(t.sequence == sequence for t in (await handle.query(CallWorkflow.state)).turns):
                pass
            latencies.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(interval)
        await call.caller_hang_up()
        final = await handle.result()
    figures = summary_ms(latencies)
    return {
        "turns": turns,
        **{f"visible_{name}_ms": value for name, value in figures.items()},
        "turns_in_final_state": sum(1 for t in final.turns if t.sequence >= FIRST_SEQUENCE),
    }


def record(result: dict[str, Any]) -> None:
    record_figures({"turn_visible_p95_ms": result["visible_p95_ms"]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between turns")
    parser.add_argument("--base-port", type=int, default=18900, help="first of 7 consecutive loopback ports")
    parser.add_argument("--record", action="store_true", help="write turn_visible_p95_ms to docs/benchmarks.json")
    args = parser.parse_args()
    result = asyncio.run(run(args.turns, args.interval, args.base_port))
    result["machine"] = f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}"
    print(json.dumps(result, indent=2))
    if args.record:
        record(result)
    sys.exit(0 if result["turns_in_final_state"] == result["turns"] else 1)


if __name__ == "__main__":
    main()
