"""Measure the embedded engines on espeak speech: `python -m realtime.engines.measure`.

Recognition: each utterance is fed in 20 ms frames at `--speed` times real time followed by 300 ms of
silence (what the pipeline feeds before end of speech is detected); reported are `finish()` latency
(last frame fed -> final result) and process CPU seconds per second of audio, free-form and with the
matching grammar. Synthesis: time to first audio chunk and to the last, for a short clause.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

from realtime.engines import grammars
from realtime.engines.base import Grammar
from realtime.engines.espeak_synthesizer import EspeakSynthesizer
from realtime.engines.pocketsphinx_recognizer import PocketsphinxRecognizer
from switchboard.speech import render_speech

FRAME = 640
CASES: list[tuple[str, Grammar]] = [
    ("yes", grammars.yes_no_grammar()),
    ("no thanks", grammars.yes_no_grammar()),
    ("P A 1 2 3 4 5 6", grammars.digits_grammar()),
    ("4 4 7 1 0 9", grammars.digits_grammar()),
    ("march third", grammars.date_grammar()),
    ("yesterday", grammars.date_grammar()),
    ("an S U V", grammars.vehicle_grammar()),
    ("a pickup truck", grammars.vehicle_grammar()),
    ("nobody was hurt", grammars.injury_grammar()),
    ("my car was hit by a truck on the highway", grammars.phrase_grammar("free", ["my car was hit"])),
]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _recognition(speed: float, rounds: int) -> None:
    rec = PocketsphinxRecognizer()
    await rec.warm_up(1)
    pcms = [(text, render_speech(text) + b"\0" * 9600, grammar) for text, grammar in CASES]
    for label, use_grammar in (("free-form", False), ("grammar", True)):
        latencies: list[float] = []
        cpu = 0.0
        audio = 0.0
        correct = 0
        for _ in range(rounds):
            for text, pcm, grammar in pcms:
                if use_grammar and grammar.name == "free":
                    continue
                stream = rec.open_stream(grammar=grammar if use_grammar else None)
                cpu_start = time.process_time()
                for i in range(0, len(pcm), FRAME):
                    await stream.feed(pcm[i : i + FRAME])
                    await asyncio.sleep(0.02 / speed)
                started = time.perf_counter()
                result = await stream.finish()
                latencies.append(time.perf_counter() - started)
                cpu += time.process_time() - cpu_start
                audio += len(pcm) / 2 / rec.sample_rate
                if grammar.name == "digits":
                    correct += grammars.normalize_digits(result.text) == text.replace(" ", "")
                else:
                    correct += result.text == text.lower()
                await stream.aclose()
        sys.stdout.write(
            f"recognition {label:9s}: finish p50 {statistics.median(latencies) * 1000:6.1f} ms, "
            f"p95 {_pct(latencies, 0.95) * 1000:6.1f} ms, max {max(latencies) * 1000:6.1f} ms; "
            f"CPU {cpu / audio:.3f} s per s of audio; exact {correct}/{len(latencies)}\n"
        )
    await rec.aclose()


async def _synthesis(rounds: int) -> None:
    for rate in (16000, 24000):
        synth = EspeakSynthesizer(sample_rate=rate)
        firsts: list[float] = []
        totals: list[float] = []
        for _ in range(rounds):
            started = time.perf_counter()
            first = None
            async for _chunk in synth.synthesize("Thank you, Jane. What is your policy number?"):
                if first is None:
                    first = time.perf_counter() - started
            firsts.append(first or 0.0)
            totals.append(time.perf_counter() - started)
        sys.stdout.write(
            f"synthesis {rate} Hz: first audio p50 {statistics.median(firsts) * 1000:5.1f} ms, "
            f"p95 {_pct(firsts, 0.95) * 1000:5.1f} ms; whole clause p50 {statistics.median(totals) * 1000:5.1f} ms\n"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--speed", type=float, default=1.0, help="feed speed, times real time")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(_recognition(args.speed, args.rounds))
    asyncio.run(_synthesis(max(10, args.rounds * 5)))


if __name__ == "__main__":
    main()
