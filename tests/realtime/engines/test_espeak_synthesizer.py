"""espeak-ng synthesis streams resampled PCM in several chunks, starts before it is done, and a
cancelled or closed iteration kills the process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

import pytest

from realtime.engines.base import Synthesizer
from realtime.engines.espeak_synthesizer import EspeakSynthesizer, SynthesisError

LONG = "Thank you for calling. I can help you report an accident. " * 4


def _espeak_children() -> list[int]:
    me = str(os.getpid())
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if fields[1] == me and comm.startswith("espeak"):
            pids.append(int(entry))
    return pids


def test_synthesizer_implements_the_interface() -> None:
    assert isinstance(EspeakSynthesizer(), Synthesizer)


@pytest.mark.parametrize("rate", [16000, 24000])
async def test_streams_several_chunks_at_the_target_rate(rate: int) -> None:
    synth = EspeakSynthesizer(sample_rate=rate)
    chunks = [c async for c in synth.synthesize(LONG)]
    assert len(chunks) > 3
    pcm = b"".join(chunks)
    assert len(pcm) % 2 == 0
    seconds = len(pcm) / 2 / rate
    assert 8 < seconds < 30  # about four seconds of speech per repetition pair, never 22.05 kHz length
    assert not pcm.startswith(b"RIFF")


async def test_first_chunk_arrives_before_synthesis_is_done() -> None:
    synth = EspeakSynthesizer()
    started = time.perf_counter()
    first_at = None
    async with contextlib.aclosing(synth.synthesize(LONG)) as stream:
        async for _ in stream:
            if first_at is None:
                first_at = time.perf_counter() - started
    total = time.perf_counter() - started
    assert first_at is not None and first_at < total
    assert first_at < 0.2


async def test_closing_the_iteration_early_kills_the_process() -> None:
    synth = EspeakSynthesizer(read_bytes=512)
    stream = synth.synthesize(LONG * 10)
    await anext(stream)
    assert _espeak_children()
    await stream.aclose()
    assert _espeak_children() == []


async def _cancel_consumer(synth: EspeakSynthesizer, *, closing: bool) -> None:
    first = asyncio.Event()

    async def consume() -> None:
        stream = synth.synthesize(LONG * 10)
        async with contextlib.aclosing(stream) if closing else contextlib.nullcontext(stream):
            async for _ in stream:
                first.set()
                await asyncio.sleep(0.01)

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 2)
    assert _espeak_children()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancelling_a_consumer_that_closes_its_iteration_kills_the_process_at_once() -> None:
    await _cancel_consumer(EspeakSynthesizer(read_bytes=512), closing=True)
    assert _espeak_children() == []


async def test_cancelling_a_consumer_that_drops_its_iteration_kills_the_process_soon() -> None:
    await _cancel_consumer(EspeakSynthesizer(read_bytes=512), closing=False)
    for _ in range(100):  # the event loop's async-generator finaliser closes the dropped iteration
        if not _espeak_children():
            break
        await asyncio.sleep(0.01)
    assert _espeak_children() == []


async def test_blank_text_yields_nothing_and_a_failing_binary_raises() -> None:
    assert [c async for c in EspeakSynthesizer().synthesize("  ")] == []
    broken = EspeakSynthesizer(binary="/bin/false")
    with pytest.raises(SynthesisError):
        _ = [c async for c in broken.synthesize("hello")]
