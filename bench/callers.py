"""`python -m bench.callers`: one caller process of the benchmark.

It runs an `AcsEmulator` and a minimal control plane in its own event loop (uvloop) and places
`--calls` simultaneous inbound calls, their starts spread evenly over `--spread` seconds:

    emulator --IncomingCall--> webhook (this process) --answer_call (Call Automation SDK)--> emulator
    emulator --media WebSocket (transportUrl, per-call token)--> realtime worker (--media-base)

The answer carries the same `mediaStreamingOptions` as `activities.acs.AcsActivities.answer_call`
(bidirectional, pcm16KMono, start at once) and the transport URL `AcsEndpoints.transport_url`
builds, so the worker sees exactly what ACS would send it. The caller script of every call:

    wait greeting done -> say S1 -> wait agent done -> say S2 -> wait agent heard 500 ms
    -> say S3 (barge-in) -> wait agent done -> hang up

Per call it reduces the emulator's `CallTimeline` to the figures in `bench.metrics.call_metrics` and
prints one JSON document on stdout: the calls, the process's own CPU time and wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import resource
import time
from typing import Any

from azure.communication.callautomation import (
    MediaStreamingAudioChannelType,
    MediaStreamingContentType,
    MediaStreamingOptions,
    StreamingTransportType,
)
from azure.communication.callautomation.aio import CallAutomationClient
from azure.core.credentials import AzureKeyCredential
from fastapi import FastAPI, Request

from activities.acs import AcsEndpoints
from bench.metrics import call_metrics, speech_span
from emulators.acs import (
    AcsEmulator,
    EmulatorOptions,
    HangUp,
    Say,
    SimulatedCall,
    Step,
    WaitAgentDone,
    WaitAgentHeard,
)
from switchboard.asgi import serve_in_loop

log = logging.getLogger("bench.callers")

SAY_ANSWER = "my name is john smith"
SAY_SECOND = "my policy number is p a one two three four five six"
SAY_BARGE_IN = "sorry, wait, one moment please"


def caller_script(kind: str = "full", *, quiet_ms: int = 600, heard_ms: int = 500, timeout: float = 30.0) -> list[Step]:
    """`full`: two clean turns (voice-to-voice), then a barge-in on the second answer. `short` (for
    tests): one clean turn, then a barge-in on its answer."""
    if kind == "short":
        return [
            WaitAgentDone(quiet_ms=300, timeout=timeout),
            Say(SAY_ANSWER),
            WaitAgentHeard(ms=300, timeout=timeout),
            Say(SAY_BARGE_IN),
            WaitAgentDone(quiet_ms=300, timeout=timeout),
            HangUp(),
        ]
    return [
        WaitAgentDone(quiet_ms=quiet_ms, timeout=timeout),
        Say(SAY_ANSWER),
        WaitAgentDone(quiet_ms=quiet_ms, timeout=timeout),
        Say(SAY_SECOND),
        WaitAgentHeard(ms=heard_ms, timeout=timeout),
        Say(SAY_BARGE_IN),
        WaitAgentDone(quiet_ms=quiet_ms, timeout=timeout),
        HangUp(),
    ]


class ControlPlane:
    """Answers every IncomingCall with media streaming to the realtime worker (what the API and the
    answer activity do in production, without Temporal)."""

    def __init__(self, emu: AcsEmulator, endpoints: AcsEndpoints) -> None:
        self._client = CallAutomationClient(emu.endpoint, AzureKeyCredential(emu.access_key))
        self._endpoints = endpoints
        self._tasks: set[asyncio.Task[None]] = set()
        self.answer_errors: list[str] = []
        self.app = FastAPI()
        self.app.add_api_route("/api/acs/events", self._events, methods=["POST"])
        self.app.add_api_route("/api/acs/callbacks/{call_id}", self._callback, methods=["POST"])

    async def _events(self, request: Request) -> Any:
        events = await request.json()
        for event in events if isinstance(events, list) else [events]:
            kind = event.get("eventType", "")
            data = event.get("data") or {}
            if kind == "Microsoft.EventGrid.SubscriptionValidationEvent":
                return {"validationResponse": data["validationCode"]}
            if kind == "Microsoft.Communication.IncomingCall":
                task = asyncio.create_task(self._answer(data["incomingCallContext"], data["correlationId"]))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return {}

    async def _callback(self, call_id: str) -> dict[str, str]:
        return {}

    async def _answer(self, context: str, correlation_id: str) -> None:
        media = MediaStreamingOptions(
            transport_url=self._endpoints.transport_url(correlation_id),
            transport_type=StreamingTransportType.WEBSOCKET,
            content_type=MediaStreamingContentType.AUDIO,
            audio_channel_type=MediaStreamingAudioChannelType(self._endpoints.audio_channel_type),
            start_media_streaming=True,
            enable_bidirectional=True,
            audio_format=self._endpoints.audio_format,
            enable_dtmf_tones=True,
        )
        try:
            await self._client.answer_call(context, self._endpoints.callback_url(correlation_id), media_streaming=media)
        except Exception as exc:  # reported per call (the call then rings out)
            self.answer_errors.append(f"{correlation_id}: {type(exc).__name__}: {exc}")

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self._client.close()


async def place_and_measure(
    emu: AcsEmulator,
    index: int,
    delay: float,
    script: list[Step],
    max_seconds: float,
    spans: dict[int, tuple[int, int]],
) -> dict[str, Any]:
    await asyncio.sleep(delay)
    try:
        call: SimulatedCall = await emu.place_call(
            caller=f"+1555{index:07d}", callee="+15550000000", script=script, max_call_seconds=max_seconds
        )
    except Exception as exc:
        return {"index": index, "error": f"place_call: {type(exc).__name__}: {exc}"}
    try:
        await asyncio.wait_for(call.finished, max_seconds + 15)
    except TimeoutError:
        pass
    says = [i for i, step in enumerate(script) if isinstance(step, Say)]
    metrics = call_metrics(call.timeline, answer_steps=says[:-1], barge_in_step=says[-1], speech_spans=spans)
    metrics.update(index=index, state=str(call.state), end_reason=call.end_reason, error=call.error)
    return metrics


async def run(args: argparse.Namespace) -> dict[str, Any]:
    options = EmulatorOptions(
        keep_audio=False,
        max_call_seconds=args.max_call_seconds,
        callback_attempts=2,
        ring_timeout=30.0,
    )
    script = caller_script(args.script, quiet_ms=args.quiet_ms, heard_ms=args.heard_ms, timeout=args.step_timeout)
    async with AcsEmulator(options=options) as emu:
        endpoints = AcsEndpoints(
            callback_base_url="http://127.0.0.1:0",  # replaced below, once the webhook has a port
            media_base_url=args.media_base,
            token_secret=args.secret,
        )
        plane = ControlPlane(emu, endpoints)
        async with serve_in_loop(plane.app) as webhook_port:
            base = f"http://127.0.0.1:{webhook_port}"
            plane._endpoints = AcsEndpoints(
                callback_base_url=base, media_base_url=args.media_base, token_secret=args.secret
            )
            emu.event_grid_url = f"{base}/api/acs/events"
            # Render the caller's speech once, before any call starts (every call reuses it).
            spans = {
                i: speech_span(await emu.render(step.text, step.voice, 16000))
                for i, step in enumerate(script)
                if isinstance(step, Say)
            }
            usage0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            spread = args.spread if args.calls > 1 else 0.0
            calls = await asyncio.gather(
                *(
                    place_and_measure(emu, i, spread * i / max(1, args.calls - 1), script, args.max_call_seconds, spans)
                    for i in range(args.calls)
                )
            )
            usage1, wall1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            await plane.aclose()
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    return {
        "calls": calls,
        "answer_errors": plane.answer_errors,
        "cpu_seconds": round(cpu, 3),
        "wall_seconds": round(wall1 - wall0, 3),
        "max_rss_mb": round(usage1.ru_maxrss / 1024, 1),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.callers", description="benchmark caller process")
    parser.add_argument("--media-base", required=True, help="the realtime worker, e.g. ws://127.0.0.1:8100")
    parser.add_argument("--secret", required=True, help="media token secret shared with the worker")
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--spread", type=float, default=2.0, help="seconds over which call starts are spread")
    parser.add_argument("--script", choices=("full", "short"), default="full")
    parser.add_argument("--quiet-ms", type=int, default=600)
    parser.add_argument("--heard-ms", type=int, default=500)
    parser.add_argument("--step-timeout", type=float, default=30.0)
    parser.add_argument("--max-call-seconds", type=float, default=90.0)
    parser.add_argument("--log-level", default="ERROR")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        result = asyncio.run(run(args))
    else:
        result = uvloop.run(run(args))
    with contextlib.suppress(BrokenPipeError):
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
