"""`python -m bench.realtime_server`: the realtime worker as the benchmark runs it.

It serves `create_realtime_app` (the worker's real ASGI app, uvicorn with the `websockets`
implementation and uvloop, as `workers/realtime_worker.py` runs it) with:

- engines chosen by `--engines`: `fake` (the instant fake engines: no recognition, brain or
  synthesis delay; the platform alone) or `embedded` (PocketSphinx, espeak-ng, the scripted brain);
- a `SignalQueue` whose sender only counts signals and keeps each turn's `TurnTimings` (Temporal
  is not on the audio path, so the benchmark needs none);
- call actions that accept everything (hang-up, transfer, tools) without doing anything.

Extra routes for the harness: `GET /bench/stats` (signal counts, the turns' timings, active calls)
and `POST /bench/reset`. Once listening it prints one line ``READY <port>`` on stdout; SIGTERM or
SIGINT stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from realtime.actions import ActionResult
from realtime.bridge import PendingSignal, SignalQueue
from realtime.engines.fake import FakeBrainFactory, FakeRecognizer, FakeSynthesizer
from realtime.server import RealtimeConfig, create_realtime_app
from realtime.session import Engines, SessionConfig
from switchboard.asgi import serve_in_loop
from workflows.contracts import Turn

# The fake engines' script. The recognizer's text is what every caller utterance "says"; the reply
# is long (about 3 s at FAKE_MS_PER_CHAR) so the caller can barge in on it.
FAKE_GREETING = "Hello, how can I help?"
FAKE_REPLY = "Thank you, I have noted that. I will read everything back to you in a moment, so please stay on the line."
FAKE_TEXTS = ("my name is john smith",)
FAKE_MS_PER_CHAR = 30.0


class CountingSender:
    """The bridge's transport: counts signals and keeps the turns' timings."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.turns: list[dict[str, Any]] = []

    async def __call__(self, sig: PendingSignal) -> None:
        self.counts[sig.name] += 1
        if sig.name == "turn_completed" and isinstance(sig.payload, Turn):
            turn = sig.payload
            self.turns.append(
                {
                    "call": sig.workflow_id,
                    "sequence": turn.sequence,
                    "interrupted": turn.interrupted,
                    "caller_text": turn.caller_text,
                    **asdict(turn.timings),
                }
            )

    def reset(self) -> None:
        self.counts.clear()
        self.turns.clear()


class AcceptingActions:
    """Call actions for the benchmark: every action is accepted and nothing happens."""

    async def hang_up(self, *, reason: str) -> ActionResult:
        return ActionResult(accepted=True, detail="bench")

    async def transfer(self, *, target: str, reason: str) -> ActionResult:
        return ActionResult(accepted=True, detail="bench")

    async def handoff(self, *, target_agent: str, reason: str) -> ActionResult:
        return ActionResult(accepted=True, detail="bench")

    async def run_tool(self, name: str, arguments: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"ok": True, "claim_id": "CLM-BENCH"}


async def build_engines(kind: str, *, sample_rate: int = 16000, warm_decoders: int = 4) -> Engines:
    """`fake`: instant engines (zero recognition/brain/synthesis delay). `embedded`: PocketSphinx,
    espeak-ng and the scripted brain, with `warm_decoders` decoders loaded ahead of the calls."""
    if kind == "fake":
        return Engines(
            recognizer=FakeRecognizer(FAKE_TEXTS, sample_rate=16000),
            synthesizer=FakeSynthesizer(sample_rate=sample_rate, ms_per_char=FAKE_MS_PER_CHAR),
            brains=FakeBrainFactory(greeting=FAKE_GREETING, replies=(FAKE_REPLY,)),
        )
    if kind == "embedded":
        from realtime.engines.espeak_synthesizer import EspeakSynthesizer
        from realtime.engines.pocketsphinx_recognizer import PocketsphinxRecognizer
        from realtime.engines.scripted_brain import ScriptedBrainFactory

        recognizer = PocketsphinxRecognizer()
        if warm_decoders > 0:
            await recognizer.warm_up(warm_decoders)
        return Engines(
            recognizer=recognizer,
            synthesizer=EspeakSynthesizer(sample_rate=sample_rate),
            brains=ScriptedBrainFactory(),
        )
    raise ValueError(f"unknown engines {kind!r}: fake or embedded")


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    engines = await build_engines(args.engines, warm_decoders=args.warm_decoders)
    sender = CountingSender()
    signals = SignalQueue(sender, maxsize=args.signal_queue)
    config = RealtimeConfig(media_token_secret=args.secret, worker_id="bench", session=SessionConfig())
    actions = AcceptingActions()
    app = create_realtime_app(config, signals, engines, actions=lambda _workflow_id: actions)

    @app.get("/bench/stats")
    async def stats() -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "engines": args.engines,
            "active_calls": len(app.state.active_calls),
            "signals": dict(sender.counts),
            "turns": list(sender.turns),
            "pending_signals": signals.pending(),
            "hangover_ms": config.session.vad.hangover_ms,
            "barge_in_min_speech_ms": config.session.vad.barge_in_min_speech_ms,
            "pacer_lead_ms": config.session.pacer.lead_ms,
        }

    @app.post("/bench/reset")
    async def reset() -> dict[str, str]:
        sender.reset()
        return {"status": "ok"}

    async with serve_in_loop(app, host=args.host, port=args.port) as port:
        print(f"READY {port}", flush=True)
        await stop.wait()
    aclose = getattr(engines.recognizer, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(aclose(), 5)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.realtime_server", description=__doc__.split("\n")[0])
    parser.add_argument("--engines", choices=("fake", "embedded"), default="fake")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed as READY <port>)")
    parser.add_argument("--secret", required=True, help="media token secret (the harness issues tokens with it)")
    parser.add_argument("--warm-decoders", type=int, default=4, help="PocketSphinx decoders to load up front")
    parser.add_argument("--signal-queue", type=int, default=100_000, help="bridge queue size")
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


def run(coro: Any) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency of uvicorn[standard]
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run(serve(args))


if __name__ == "__main__":
    main()
