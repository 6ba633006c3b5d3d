"""Render text to PCM with the local espeak-ng synthesiser (used by the simulated caller and the
embedded synthesis engine). espeak-ng writes 22,050 Hz; soxr resamples to what the caller wants."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import soxr

ESPEAK_SAMPLE_RATE = 22050


class SpeechEngineMissing(RuntimeError):
    """The local synthesiser is not installed."""


def espeak_binary() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise SpeechEngineMissing("espeak-ng is not installed (Debian package 'espeak-ng'); run `make setup`")
    return path


def resample_pcm16(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    """Resample mono PCM16LE with soxr. Returns the input unchanged when the rates match."""
    if from_rate == to_rate or not pcm:
        return pcm
    samples = np.frombuffer(pcm, dtype="<i2")
    out = soxr.resample(samples, from_rate, to_rate, quality="HQ")
    return np.asarray(out, dtype="<i2").tobytes()


def render_speech(
    text: str, *, voice: str = "en-us+f2", sample_rate: int = 16000, words_per_minute: int = 175
) -> bytes:
    """Synthesise `text` whole and return mono PCM16LE at `sample_rate` (no WAV header)."""
    completed = subprocess.run(
        [espeak_binary(), "-v", voice, "-s", str(words_per_minute), "--stdout", text],
        check=True,
        capture_output=True,
        timeout=30,
    )
    wav = completed.stdout
    # espeak-ng --stdout writes a WAV with a streaming header; the PCM starts after the 'data' chunk id.
    data_at = wav.find(b"data")
    pcm = wav[data_at + 8 :] if data_at >= 0 else b""
    if len(pcm) % 2:
        pcm = pcm[:-1]
    return resample_pcm16(pcm, ESPEAK_SAMPLE_RATE, sample_rate)
