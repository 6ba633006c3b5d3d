"""Small audio helpers: streaming resampling (soxr), fixed-size re-framing, level in dBFS."""

from __future__ import annotations

import math

import numpy as np
import soxr


def frame_bytes(sample_rate: int, ms: int = 20) -> int:
    """Bytes of mono PCM16 in `ms` milliseconds: 640 for 20 ms at 16 kHz, 960 at 24 kHz."""
    return sample_rate * ms // 1000 * 2


def duration_seconds(pcm_bytes: int, sample_rate: int) -> float:
    return pcm_bytes / (2 * sample_rate)


def rms_dbfs(pcm: bytes) -> float:
    """Level of PCM16 audio in dBFS (-inf for digital silence)."""
    if len(pcm) < 2:
        return -math.inf
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    rms = math.sqrt(float(np.mean(samples * samples)))
    return 20 * math.log10(rms / 32768.0) if rms > 0 else -math.inf


class StreamingResampler:
    """Resamples a PCM16 stream chunk by chunk with soxr's streaming resampler (keeps its filter
    state across chunks, so chunk boundaries add no clicks). A no-op when the rates match."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = (
            None if in_rate == out_rate else soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16", quality="HQ")
        )

    def resample(self, pcm: bytes, *, last: bool = False) -> bytes:
        if self._stream is None:
            return pcm
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2")
        out = self._stream.resample_chunk(samples, last=last)
        return np.asarray(out, dtype="<i2").tobytes()

    def flush(self) -> bytes:
        return self.resample(b"", last=True)


class Reframer:
    """Cuts a byte stream into fixed-size frames, keeping the remainder for the next push."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._buffer = bytearray()

    def push(self, data: bytes) -> list[bytes]:
        self._buffer.extend(data)
        frames = []
        while len(self._buffer) >= self.size:
            frames.append(bytes(self._buffer[: self.size]))
            del self._buffer[: self.size]
        return frames

    def flush(self, *, pad: bool = True) -> bytes | None:
        """The remainder (zero-padded to a full frame when `pad`), or None if empty."""
        if not self._buffer:
            return None
        data = bytes(self._buffer)
        self._buffer.clear()
        return data + b"\x00" * (self.size - len(data)) if pad else data

    def clear(self) -> None:
        self._buffer.clear()

    def __len__(self) -> int:
        return len(self._buffer)
