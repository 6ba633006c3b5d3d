"""IncomingCall webhook -> answer request at ACS, on the local multi-process stack.

The supervised stack runs as in `switchboard dev` (Temporal dev server, Redis, API, Temporal worker,
realtime worker as separate processes); the ACS emulator runs in this process so its clock times
both ends: t0 = the emulator starts POSTing the IncomingCall event to the API's Event Grid webhook,
t1 = the emulator receives the SDK's `POST /calling/callConnections:answer` for that call. Between
them: API validation, `start_workflow`, a workflow task, the `answer_call` activity and the SDK.

    .venv/bin/python -m bench.answer_latency --calls 100 --rate 2

Calls arrive open-loop at `--rate` per second (a new call rings whether or not the previous ones are
done), as calls reach a contact centre; `--rate 0` runs them one after another.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
from typing import Any

from bench.stack import bench_stack, percentile, record_figures
from emulators.acs import AcsEmulator

SCRIPT: list[dict[str, Any]] = [{"silence": 0.3}, {"hang_up": True}]


async def one_call(emulator: AcsEmulator, index: int) -> float:
    call = await emulator.place_call(caller=f"+1555{index:07d}", callee="+15550009999", script=SCRIPT)
    await call.wait_for("answered", timeout=30)
    sent_at = call.incoming_deliveries[0].attempts[0].at
    answer = next(r for r in call.requests if r.path.endswith("callConnections:answer"))
    await call.wait_for("disconnected", timeout=60)
    return (answer.received_at - sent_at) * 1000


async def run(calls: int, rate: float, warmup: int, base_port: int) -> dict[str, Any]:
    async with bench_stack(base_port) as stack:
        emulator = stack.emulator
        for index in range(warmup):
            await one_call(emulator, index)
        latencies: list[float] = []
        started = time.perf_counter()
        if rate <= 0:
            for index in range(calls):
                latencies.append(await one_call(emulator, warmup + index))
        else:

            async def arriving(index: int) -> None:
                await asyncio.sleep(index / rate)
                latencies.append(await one_call(emulator, warmup + index))

            await asyncio.gather(*(arriving(i) for i in range(calls)))
        elapsed = time.perf_counter() - started
    return {
        "calls": calls,
        "arrival_rate_per_s": rate,
        "answer_p50_ms": round(percentile(latencies, 50), 1),
        "answer_p95_ms": round(percentile(latencies, 95), 1),
        "answer_max_ms": round(max(latencies), 1),
        "answer_mean_ms": round(statistics.fmean(latencies), 1),
        "wall_seconds": round(elapsed, 1),
    }


def record(result: dict[str, Any]) -> None:
    record_figures({"answer_p50_ms": result["answer_p50_ms"], "answer_p95_ms": result["answer_p95_ms"]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--rate", type=float, default=2.0, help="new calls per second (0: one after another)")
    parser.add_argument("--warmup", type=int, default=5, help="calls before measuring (not counted)")
    parser.add_argument("--base-port", type=int, default=18700, help="first of 7 consecutive loopback ports")
    parser.add_argument(
        "--record", action="store_true", help="write answer_p50_ms/answer_p95_ms to docs/benchmarks.json"
    )
    args = parser.parse_args()
    result = asyncio.run(run(args.calls, args.rate, args.warmup, args.base_port))
    result["machine"] = f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}"
    print(json.dumps(result, indent=2))
    if args.record:
        record(result)
    sys.exit(0)


if __name__ == "__main__":
    main()
