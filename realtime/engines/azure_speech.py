"""Azure Speech recogniser and synthesiser behind the same interfaces as the local engines.

Recognition: one `SpeechRecognizer` per utterance on a `PushAudioInputStream` (PCM16 mono at
`sample_rate`), continuous recognition; `recognizing` events give partials, `recognized` events the
final text (several segments are joined). `finish` closes the push stream and waits for the session
to stop. A `canceled` event with reason `Error` (bad key, no connection, ...) ends the utterance with
`AzureSpeechError` carrying the SDK's error details; `EndOfStream` is a normal end. Per-turn grammar
phrases become a `PhraseListGrammar` (Azure has no JSGF).

Synthesis: raw PCM (`Raw16Khz16BitMonoPcm` / `Raw24Khz16BitMonoPcm`) read from an `AudioDataStream`
while the service is still speaking; closing the iteration stops speaking.

SDK callbacks run on the SDK's threads; they only hand events to the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncGenerator, Callable
from typing import Any

import azure.cognitiveservices.speech as speechsdk

from realtime.engines.base import Grammar, RecognitionResult
from switchboard.settings import SpeechSettings

logger = logging.getLogger(__name__)

_OUTPUT_FORMATS = {
    8000: speechsdk.SpeechSynthesisOutputFormat.Raw8Khz16BitMonoPcm,
    16000: speechsdk.SpeechSynthesisOutputFormat.Raw16Khz16BitMonoPcm,
    22050: speechsdk.SpeechSynthesisOutputFormat.Raw22050Hz16BitMonoPcm,
    24000: speechsdk.SpeechSynthesisOutputFormat.Raw24Khz16BitMonoPcm,
    48000: speechsdk.SpeechSynthesisOutputFormat.Raw48Khz16BitMonoPcm,
}


class AzureSpeechError(RuntimeError):
    """The Speech service cancelled recognition or synthesis with an error."""

    def __init__(self, reason: str, details: str) -> None:
        super().__init__(f"Azure Speech {reason}: {details}")
        self.reason = reason
        self.details = details


class AzureSpeechConfigError(ValueError):
    """The speech settings do not say how to reach Azure Speech."""


def speech_config_from_settings(settings: SpeechSettings, *, language: str = "en-US") -> speechsdk.SpeechConfig:
    """A `SpeechConfig` from settings: `azure_endpoint` (with `azure_key`) if set, else key + region."""
    key = settings.azure_key.get_secret_value() if settings.azure_key else None
    if not key:
        raise AzureSpeechConfigError("speech.azure_key is required for the Azure speech engines")
    if settings.azure_endpoint:
        config = speechsdk.SpeechConfig(endpoint=settings.azure_endpoint, subscription=key)
    elif settings.azure_region:
        config = speechsdk.SpeechConfig(subscription=key, region=settings.azure_region)
    else:
        raise AzureSpeechConfigError("set speech.azure_region or speech.azure_endpoint")
    config.speech_recognition_language = language
    config.speech_synthesis_voice_name = settings.azure_voice
    return config


def cancellation_error(details: Any) -> AzureSpeechError | None:
    """Map SDK cancellation details (`.reason`, `.error_details`) to an error, or None for a normal end."""
    reason = details.reason
    if reason == speechsdk.CancellationReason.EndOfStream:
        return None
    if reason == speechsdk.CancellationReason.CancelledByUser:
        return None
    name = getattr(reason, "name", str(reason))
    return AzureSpeechError(name, str(getattr(details, "error_details", "") or "no details"))


# ---------------------------------------------------------------- recognition

RecognizerFactory = Callable[[speechsdk.SpeechConfig, speechsdk.audio.AudioConfig], Any]


class AzureRecognizer:
    """`Recognizer` for Azure Speech. `recognizer_factory` is a seam for tests (defaults to the SDK)."""

    def __init__(
        self,
        settings: SpeechSettings,
        *,
        sample_rate: int = 16000,
        language: str = "en-US",
        finish_timeout: float = 10.0,
        recognizer_factory: RecognizerFactory | None = None,
    ) -> None:
        self.sample_rate = sample_rate
        self._config = speech_config_from_settings(settings, language=language)
        self._finish_timeout = finish_timeout
        self._factory: RecognizerFactory = recognizer_factory or (
            lambda config, audio: speechsdk.SpeechRecognizer(speech_config=config, audio_config=audio)
        )

    @property
    def speech_config(self) -> speechsdk.SpeechConfig:
        return self._config

    def open_stream(self, *, grammar: Grammar | None = None) -> AzureRecognitionStream:
        return AzureRecognitionStream(self, grammar)


class AzureRecognitionStream:
    def __init__(self, owner: AzureRecognizer, grammar: Grammar | None) -> None:
        self._owner = owner
        fmt = speechsdk.audio.AudioStreamFormat(samples_per_second=owner.sample_rate, bits_per_sample=16, channels=1)
        self._push: Any = speechsdk.audio.PushAudioInputStream(stream_format=fmt)
        self._recognizer: Any = owner._factory(owner._config, speechsdk.audio.AudioConfig(stream=self._push))
        if grammar is not None and grammar.phrases:
            phrases = speechsdk.PhraseListGrammar.from_recognizer(self._recognizer)
            for phrase in grammar.phrases:
                phrases.addPhrase(phrase)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._segments: list[str] = []
        self._partial: RecognitionResult | None = None
        self._error: AzureSpeechError | None = None
        self._stopped = asyncio.Event()
        self._started = False
        self._closed = False
        self._final: RecognitionResult | None = None
        self._recognizer.recognizing.connect(lambda evt: self._from_sdk(self.on_recognizing, evt))
        self._recognizer.recognized.connect(lambda evt: self._from_sdk(self.on_recognized, evt))
        self._recognizer.canceled.connect(lambda evt: self._from_sdk(self.on_canceled, evt))
        self._recognizer.session_stopped.connect(lambda evt: self._from_sdk(self.on_session_stopped, evt))

    def _from_sdk(self, handler: Callable[[Any], None], evt: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(handler, evt)

    # Event handlers (event loop thread). Public so the mapping can be tested without the service.

    def on_recognizing(self, evt: Any) -> None:
        text = " ".join([*self._segments, evt.result.text]).strip()
        if text:
            self._partial = RecognitionResult(text=text, is_final=False)

    def on_recognized(self, evt: Any) -> None:
        if evt.result.reason == speechsdk.ResultReason.RecognizedSpeech and evt.result.text:
            self._segments.append(evt.result.text)
            self._partial = RecognitionResult(text=" ".join(self._segments), is_final=False)

    def on_canceled(self, evt: Any) -> None:
        details = getattr(evt, "cancellation_details", evt)
        self._error = self._error or cancellation_error(details)
        self._stopped.set()

    def on_session_stopped(self, evt: Any) -> None:
        self._stopped.set()

    # RecognitionStream

    async def _start(self) -> None:
        if not self._started:
            self._started = True
            self._loop = asyncio.get_running_loop()
            await asyncio.to_thread(lambda: self._recognizer.start_continuous_recognition_async().get())

    async def feed(self, pcm: bytes) -> None:
        if self._closed or self._final is not None:
            raise RuntimeError("stream is finished")
        if self._error is not None:
            raise self._error
        await self._start()
        self._push.write(pcm)

    def partial(self) -> RecognitionResult | None:
        return self._partial

    async def finish(self) -> RecognitionResult:
        if self._final is not None:
            return self._final
        if self._started:
            self._push.close()
            try:
                await asyncio.wait_for(self._stopped.wait(), self._owner._finish_timeout)
            except TimeoutError as exc:
                raise AzureSpeechError("Timeout", "no end of recognition from the service") from exc
        if self._error is not None:
            raise self._error
        self._final = RecognitionResult(text=" ".join(self._segments).strip(), is_final=True)
        return self._final

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        held: dict[str, Any] = {"recognizer": self._recognizer, "push": self._push}
        self._recognizer = self._push = None
        if self._started:
            with contextlib.suppress(Exception):
                held["push"].close()
            await asyncio.to_thread(lambda: held["recognizer"].stop_continuous_recognition_async().get())
        sdk_recognizer = held["recognizer"]
        for signal in (
            sdk_recognizer.recognizing,
            sdk_recognizer.recognized,
            sdk_recognizer.canceled,
            sdk_recognizer.session_stopped,
        ):
            signal.disconnect_all()
        del sdk_recognizer, signal
        self._loop = None
        # The SDK's native destructor can block for ~10 s after a failed connection (measured with
        # 1.53): drop the last references on a throwaway thread, never on the event loop.
        threading.Thread(target=held.clear, name="azure-speech-release", daemon=True).start()


# ---------------------------------------------------------------- synthesis

SynthesizerFactory = Callable[[speechsdk.SpeechConfig], Any]


class AzureSynthesizer:
    """`Synthesizer` for Azure Speech, raw PCM at `sample_rate`."""

    def __init__(
        self,
        settings: SpeechSettings,
        *,
        sample_rate: int = 16000,
        read_bytes: int = 3200,
        synthesizer_factory: SynthesizerFactory | None = None,
    ) -> None:
        if sample_rate not in _OUTPUT_FORMATS:
            raise AzureSpeechConfigError(f"unsupported sample rate {sample_rate}; use one of {sorted(_OUTPUT_FORMATS)}")
        self.sample_rate = sample_rate
        self._settings = settings
        self._read_bytes = read_bytes
        self._factory: SynthesizerFactory = synthesizer_factory or (
            lambda config: speechsdk.SpeechSynthesizer(speech_config=config, audio_config=None)
        )
        self.speech_config_for(None)  # fail early on bad settings

    def speech_config_for(self, voice: str | None) -> speechsdk.SpeechConfig:
        config = speech_config_from_settings(self._settings)
        config.set_speech_synthesis_output_format(_OUTPUT_FORMATS[self.sample_rate])
        if voice:
            config.speech_synthesis_voice_name = voice
        return config

    def synthesize(self, text: str, *, voice: str | None = None) -> AsyncGenerator[bytes, None]:
        return self._stream(text, voice)

    async def _stream(self, text: str, voice: str | None) -> AsyncGenerator[bytes, None]:
        if not text.strip():
            return
        # SDK objects live in `held` only, so they can be released off the event loop (see aclose above).
        held: dict[str, Any] = {"synthesizer": self._factory(self.speech_config_for(voice))}
        finished = False
        try:
            held["result"] = await asyncio.to_thread(lambda: held["synthesizer"].start_speaking_text_async(text).get())
            if held["result"].reason == speechsdk.ResultReason.Canceled:
                details = speechsdk.SpeechSynthesisCancellationDetails(held["result"])
                raise cancellation_error(details) or AzureSpeechError("Canceled", "synthesis cancelled")
            held["stream"] = speechsdk.AudioDataStream(held["result"])
            while True:
                buffer = bytes(self._read_bytes)
                filled = await asyncio.to_thread(held["stream"].read_data, buffer)
                if filled == 0:
                    break
                yield buffer[:filled]
            finished = True
        finally:
            try:
                if not finished:
                    await asyncio.shield(asyncio.to_thread(lambda: held["synthesizer"].stop_speaking_async().get()))
            finally:
                threading.Thread(target=held.clear, name="azure-speech-release", daemon=True).start()
