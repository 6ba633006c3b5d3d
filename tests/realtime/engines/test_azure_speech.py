"""Azure Speech adapters: config from settings, SDK event mapping, and cancellation errors surfacing
as AzureSpeechError, all without the service (a refused loopback connection stands in for it)."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import azure.cognitiveservices.speech as speechsdk
import pytest
from pydantic import SecretStr

from realtime.engines.azure_speech import (
    AzureRecognizer,
    AzureSpeechConfigError,
    AzureSpeechError,
    AzureSynthesizer,
    cancellation_error,
    speech_config_from_settings,
)
from realtime.engines.base import Recognizer, Synthesizer
from realtime.engines.grammars import yes_no_grammar
from switchboard.settings import SpeechSettings


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def endpoint_settings(port: int) -> SpeechSettings:
    url = f"ws://127.0.0.1:{port}/speech/recognition/conversation/cognitiveservices/v1?language=en-US"
    return SpeechSettings(recognizer="azure", synthesizer="azure", azure_key=SecretStr("k"), azure_endpoint=url)


def test_config_from_key_and_region_or_endpoint() -> None:
    regional = speech_config_from_settings(
        SpeechSettings(azure_key=SecretStr("k"), azure_region="westeurope", azure_voice="en-US-AvaNeural")
    )
    assert regional.region == "westeurope"
    assert regional.speech_synthesis_voice_name == "en-US-AvaNeural"
    assert regional.speech_recognition_language == "en-US"
    direct = speech_config_from_settings(endpoint_settings(1))
    assert direct.get_property(speechsdk.PropertyId.SpeechServiceConnection_Endpoint).startswith("ws://127.0.0.1:1/")


def test_missing_key_or_location_is_a_clear_error() -> None:
    with pytest.raises(AzureSpeechConfigError, match="azure_key"):
        speech_config_from_settings(SpeechSettings(azure_region="westeurope"))
    with pytest.raises(AzureSpeechConfigError, match="azure_region"):
        speech_config_from_settings(SpeechSettings(azure_key=SecretStr("k")))
    with pytest.raises(AzureSpeechConfigError, match="sample rate"):
        AzureSynthesizer(endpoint_settings(1), sample_rate=11025)


def test_adapters_implement_the_interfaces() -> None:
    settings = endpoint_settings(1)
    assert isinstance(AzureRecognizer(settings), Recognizer)
    assert isinstance(AzureSynthesizer(settings, sample_rate=24000), Synthesizer)


def test_cancellation_reasons_map_to_errors_or_normal_ends() -> None:
    error = cancellation_error(SimpleNamespace(reason=speechsdk.CancellationReason.Error, error_details="401 bad key"))
    assert isinstance(error, AzureSpeechError) and error.details == "401 bad key" and error.reason == "Error"
    assert cancellation_error(SimpleNamespace(reason=speechsdk.CancellationReason.EndOfStream)) is None


def _event(text: str, reason: speechsdk.ResultReason) -> SimpleNamespace:
    return SimpleNamespace(result=SimpleNamespace(text=text, reason=reason))


async def test_recognizing_gives_partials_and_recognized_segments_join_into_the_final() -> None:
    stream = AzureRecognizer(endpoint_settings(1)).open_stream(grammar=yes_no_grammar())
    stream.on_recognizing(_event("my car", speechsdk.ResultReason.RecognizingSpeech))
    assert stream.partial() is not None and stream.partial().text == "my car"  # type: ignore[union-attr]
    stream.on_recognized(_event("My car was hit.", speechsdk.ResultReason.RecognizedSpeech))
    stream.on_recognized(_event("", speechsdk.ResultReason.NoMatch))
    stream.on_recognizing(_event("on main", speechsdk.ResultReason.RecognizingSpeech))
    assert stream.partial().text == "My car was hit. on main"  # type: ignore[union-attr]
    stream.on_recognized(_event("On Main Street.", speechsdk.ResultReason.RecognizedSpeech))
    stream.on_session_stopped(SimpleNamespace())
    final = await stream.finish()
    assert final.text == "My car was hit. On Main Street." and final.is_final
    await stream.aclose()


async def test_a_refused_connection_surfaces_as_azure_speech_error() -> None:
    stream = AzureRecognizer(endpoint_settings(closed_port()), finish_timeout=15).open_stream()
    try:
        await stream.feed(b"\0" * 3200)
        with pytest.raises(AzureSpeechError) as caught:
            await stream.finish()
    finally:
        await stream.aclose()
    assert caught.value.reason == "Error"
    assert "Connection" in caught.value.details or "connection" in caught.value.details
