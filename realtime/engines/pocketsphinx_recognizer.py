"""The embedded speech recogniser: CMU PocketSphinx with its shipped en-US model.

Free-form speech uses the shipped n-gram language model; a directed question passes a JSGF grammar
(`Grammar.jsgf`), which is both far more accurate and about twenty times cheaper.

Threads and the event loop: PocketSphinx holds the GIL while it decodes, so decoding runs in this
recogniser's own thread pool in short slices (`slice_ms` of audio per native call). That bounds how
long the event loop can be held up by one call's decoding to a few milliseconds, and keeps most of
the work done while the caller is still speaking, so `finish()` only decodes the last slice and ends
the utterance.

Decoders take about 0.3 s to create (language model and dictionary), so the recogniser keeps a pool
of idle decoders. A stream holds one decoder exclusively from its first audio until `aclose`; the
decoder's per-caller state (cepstral mean, active search) is reset when it goes back to the pool.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pocketsphinx

from realtime.engines.base import Grammar, RecognitionResult, RecognitionStream

logger = logging.getLogger(__name__)

pocketsphinx.set_loglevel("ERROR")

_MAX_GRAMMARS_PER_DECODER = 32

# Initial cepstral mean for every utterance. Live CMN adapts only every few seconds, so short answers
# are decoded with this value; the model's default (40,3,-1,0,...) is far from speech and caused
# insertions ("five three" -> "i i three"). This is the mean PocketSphinx converged to over five
# utterances in each of four espeak-ng en-us voices (measured here); the pool resets each decoder to
# it, so no caller's channel leaks into another's. Override with decoder_options={"cmninit": ...}.
SPEECH_CMN_INIT = "49.62,2.27,-3.65,10.52,-12.64,2.38,-9.80,-7.47,-3.58,-1.42,3.37,-2.72,-0.48"


class RecognizerClosed(RuntimeError):
    """A recogniser or stream was used after it was closed."""


class _PooledDecoder:
    """A decoder plus the grammars already compiled into it (search name per grammar digest)."""

    def __init__(self, config_overrides: dict[str, Any]) -> None:
        self.decoder = pocketsphinx.Decoder(**config_overrides)
        self.searches: OrderedDict[str, str] = OrderedDict()

    def activate(self, grammar: Grammar | None) -> None:
        if grammar is None:
            self.decoder.activate_search()
            return
        digest = hashlib.sha1(grammar.jsgf.encode()).hexdigest()[:16]
        search = self.searches.get(digest)
        if search is None:
            search = f"g_{digest}"
            self.decoder.add_jsgf_string(search, grammar.jsgf)
            self.searches[digest] = search
            while len(self.searches) > _MAX_GRAMMARS_PER_DECODER:
                _, old = self.searches.popitem(last=False)
                self.decoder.remove_search(old)
        else:
            self.searches.move_to_end(digest)
        self.decoder.activate_search(search)

    def reset(self) -> None:
        """Forget the previous caller: default search, fresh feature extraction (cepstral mean)."""
        self.decoder.activate_search()
        self.decoder.reinit_feat()


class PocketsphinxRecognizer:
    """`Recognizer` backed by PocketSphinx. Share one per worker; each utterance opens a stream.

    Keyword options: `max_workers` decoding threads (default: CPU count), `slice_ms` of audio per
    native decode call, `batch_ms` of audio buffered before a decode job is scheduled, `max_idle`
    decoders kept in the pool, and `decoder_options` passed to `pocketsphinx.Decoder`. The defaults
    turn off the flat-lexicon second pass and the lattice best-path pass: on espeak speech they cost
    30-300 ms at `finish` (most on looping grammars such as digit strings) and measured no more
    accurate (free-form WER 0.49 with, 0.47 without; digit strings 3/12 with, 6/12 without).
    """

    sample_rate: int = 16000

    def __init__(
        self,
        *,
        max_workers: int | None = None,
        slice_ms: int = 20,
        batch_ms: int = 100,
        max_idle: int = 8,
        decoder_options: dict[str, Any] | None = None,
    ) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=max_workers or os.cpu_count() or 2, thread_name_prefix="pocketsphinx"
        )
        self._slice_bytes = self.sample_rate * 2 * slice_ms // 1000
        self._batch_bytes = self.sample_rate * 2 * batch_ms // 1000
        self._max_idle = max_idle
        self._decoder_options: dict[str, Any] = {
            "fwdflat": False,
            "bestpath": False,
            "cmninit": SPEECH_CMN_INIT,
            **(decoder_options or {}),
        }
        self._idle: list[_PooledDecoder] = []
        self._lock = threading.Lock()
        self._closed = False

    # ------------------------------------------------------------ pool

    def _acquire(self) -> _PooledDecoder:
        """Runs in a decode thread: an idle decoder, or a new one."""
        with self._lock:
            if self._closed:
                raise RecognizerClosed("recognizer is closed")
            if self._idle:
                return self._idle.pop()
        return _PooledDecoder(self._decoder_options)

    def _release(self, pooled: _PooledDecoder) -> None:
        pooled.reset()
        with self._lock:
            if not self._closed and len(self._idle) < self._max_idle:
                self._idle.append(pooled)

    async def warm_up(self, decoders: int = 1) -> None:
        """Create decoders ahead of the first calls, so the first utterance pays no load time."""

        def build() -> None:
            pooled = _PooledDecoder(self._decoder_options)
            self._release(pooled)

        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._executor, build) for _ in range(decoders)))

    @property
    def idle_decoders(self) -> int:
        with self._lock:
            return len(self._idle)

    async def aclose(self) -> None:
        with self._lock:
            self._closed = True
            self._idle.clear()
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)

    # ------------------------------------------------------------ streams

    def open_stream(self, *, grammar: Grammar | None = None) -> RecognitionStream:
        if self._closed:
            raise RecognizerClosed("recognizer is closed")
        return PocketsphinxStream(self, grammar)


class PocketsphinxStream:
    """One utterance on one decoder. Feed PCM16LE at 16 kHz; `finish` returns the final text."""

    def __init__(self, recognizer: PocketsphinxRecognizer, grammar: Grammar | None) -> None:
        self._rec = recognizer
        self._grammar = grammar
        self._pending = bytearray()
        self._job: asyncio.Future[None] | None = None
        self._pooled: _PooledDecoder | None = None
        self._started = False
        self._partial: RecognitionResult | None = None
        self._final: RecognitionResult | None = None
        self._closed = False

    # Everything prefixed _t_ runs in a decode thread, one job at a time per stream.

    def _t_start(self) -> _PooledDecoder:
        if self._pooled is None:
            self._pooled = self._rec._acquire()
            self._pooled.activate(self._grammar)
        if not self._started:
            self._pooled.decoder.start_utt()
            self._started = True
        return self._pooled

    def _t_decode(self, pcm: bytes) -> None:
        pooled = self._t_start()
        step = self._rec._slice_bytes
        for i in range(0, len(pcm), step):
            pooled.decoder.process_raw(pcm[i : i + step], False, False)
        hyp = pooled.decoder.hyp()
        if hyp is not None and hyp.hypstr:
            self._partial = RecognitionResult(text=hyp.hypstr, is_final=False)

    def _t_finish(self, pcm: bytes) -> RecognitionResult:
        self._t_decode(pcm)
        assert self._pooled is not None
        decoder = self._pooled.decoder
        decoder.end_utt()
        self._started = False
        hyp = decoder.hyp()
        if hyp is None or not hyp.hypstr:
            return RecognitionResult(text="", is_final=True)
        # Without the best-path pass there is no posterior to report as a confidence.
        return RecognitionResult(text=hyp.hypstr, is_final=True)

    def _t_release(self) -> None:
        pooled, self._pooled = self._pooled, None
        if pooled is None:
            return
        if self._started:
            pooled.decoder.end_utt()
            self._started = False
        self._rec._release(pooled)

    async def _run(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._rec._executor, fn, *args)

    async def _wait_job(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            # Shielded: a cancelled caller must not leave the decoder in use by a running job.
            await asyncio.shield(job)

    # ------------------------------------------------------------ RecognitionStream

    async def feed(self, pcm: bytes) -> None:
        if self._closed or self._final is not None:
            raise RecognizerClosed("stream is finished")
        self._pending += pcm
        if len(self._pending) < self._rec._batch_bytes:
            return
        if self._job is not None:
            if not self._job.done():
                return  # the running job is behind; the next feed picks the buffer up
            await self._wait_job()  # surfaces a failed job
        batch = bytes(self._pending)
        self._pending.clear()
        loop = asyncio.get_running_loop()
        self._job = loop.run_in_executor(self._rec._executor, self._t_decode, batch)

    def partial(self) -> RecognitionResult | None:
        return self._partial

    async def finish(self) -> RecognitionResult:
        if self._final is not None:
            return self._final
        if self._closed:
            raise RecognizerClosed("stream is closed")
        await self._wait_job()
        if self._pooled is None and not self._pending:
            self._final = RecognitionResult(text="", is_final=True)
            return self._final
        rest = bytes(self._pending)
        self._pending.clear()
        job = asyncio.ensure_future(self._run(self._t_finish, rest))
        self._job = job  # type: ignore[assignment]
        result: RecognitionResult = await asyncio.shield(job)
        self._job = None
        self._final = result
        return result

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._wait_job()
        except Exception:  # a failed decode is reported by feed/finish; closing still releases
            logger.debug("decode job failed before close", exc_info=True)
        if self._pooled is not None:
            await self._run(self._t_release)

    async def __aenter__(self) -> PocketsphinxStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
