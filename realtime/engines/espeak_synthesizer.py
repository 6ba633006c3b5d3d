"""The embedded speech synthesiser: espeak-ng, streamed.

Each `synthesize` call runs one `espeak-ng --stdout` process and yields its PCM as it is produced,
resampled from espeak's 22,050 Hz to `sample_rate` with soxr's streaming resampler. Closing or
cancelling the iteration kills the process and reaps it. Iterate with `contextlib.aclosing` (or run
it in a task you cancel) so an abandoned iteration does not wait for garbage collection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator

import numpy as np
import soxr

from switchboard.speech import ESPEAK_SAMPLE_RATE, espeak_binary

logger = logging.getLogger(__name__)

_HEADER_SCAN_LIMIT = 4096


class SynthesisError(RuntimeError):
    """espeak-ng failed (non-zero exit status)."""


class EspeakSynthesizer:
    """`Synthesizer` backed by the espeak-ng binary. Holds no per-call state; share one per worker.

    Keyword options: `sample_rate` of the output (16000 or 24000, any rate soxr accepts works),
    default `voice` (an espeak voice such as "en-us+f2"), `words_per_minute`, `read_bytes` per read
    from the process (smaller means smaller, earlier chunks), `final_pause` (espeak's pause after the
    last sentence; off makes clause-by-clause speech run together more tightly).
    """

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        voice: str = "en-us+f2",
        words_per_minute: int = 175,
        read_bytes: int = 4096,
        final_pause: bool = True,
        binary: str | None = None,
    ) -> None:
        self.sample_rate = sample_rate
        self.voice = voice
        self.words_per_minute = words_per_minute
        self._read_bytes = read_bytes
        self._final_pause = final_pause
        self._binary = binary

    def _command(self, voice: str) -> list[str]:
        cmd = [self._binary or espeak_binary(), "-v", voice, "-s", str(self.words_per_minute), "--stdout"]
        if not self._final_pause:
            cmd.append("-z")
        cmd.append("--stdin")
        return cmd

    def synthesize(self, text: str, *, voice: str | None = None) -> AsyncGenerator[bytes, None]:
        return self._stream(text, voice or self.voice)

    async def _stream(self, text: str, voice: str) -> AsyncGenerator[bytes, None]:
        if not text.strip():
            return
        proc = await asyncio.create_subprocess_exec(
            *self._command(voice),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        resampler = (
            soxr.ResampleStream(ESPEAK_SAMPLE_RATE, self.sample_rate, 1, dtype="int16", quality="HQ")
            if self.sample_rate != ESPEAK_SAMPLE_RATE
            else None
        )
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        try:
            proc.stdin.write(text.encode("utf-8"))
            proc.stdin.close()
            header = bytearray()
            carry = b""
            in_data = False
            while True:
                block = await proc.stdout.read(self._read_bytes)
                if not block:
                    break
                if not in_data:
                    header += block
                    at = header.find(b"data")
                    if at < 0 or len(header) < at + 8:
                        if len(header) > _HEADER_SCAN_LIMIT:
                            raise SynthesisError("espeak-ng output has no WAV data chunk")
                        continue
                    in_data = True
                    block = bytes(header[at + 8 :])
                pcm = carry + block
                usable = len(pcm) - len(pcm) % 2
                carry = pcm[usable:]
                out = self._resample(resampler, pcm[:usable], last=False)
                if out:
                    yield out
            tail = self._resample(resampler, b"", last=True)
            if tail:
                yield tail
            stderr = await proc.stderr.read()
            code = await proc.wait()
            if code != 0:
                raise SynthesisError(f"espeak-ng exited with {code}: {stderr.decode(errors='replace').strip()[:200]}")
        finally:
            await _reap(proc)

    @staticmethod
    def _resample(resampler: soxr.ResampleStream | None, pcm: bytes, *, last: bool) -> bytes:
        if resampler is None:
            return pcm
        samples = np.frombuffer(pcm, dtype="<i2")
        out = resampler.resample_chunk(samples, last=last)
        return np.asarray(out, dtype="<i2").tobytes()


async def _reap(proc: asyncio.subprocess.Process) -> None:
    """Kill the process if it still runs and wait for it, even while being cancelled."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    try:
        # communicate() drains both pipes to EOF as well as waiting, so the transport closes too.
        await asyncio.shield(proc.communicate())
    except asyncio.CancelledError:
        # Cancelled again while reaping: the kill was sent; the child watcher reaps it.
        logger.debug("cancelled while reaping espeak-ng pid %s", proc.pid)
        raise
