"""The media side: ACS's WebSocket client paces the caller's audio in real time and models playout of
the app's audio (1x, StopAudio drops the buffer, late frames and frames after a stop are counted)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

from azure.communication.callautomation import MediaStreamingOptions
from azure.communication.callautomation.aio import CallAutomationClient
from azure.core.credentials import AzureKeyCredential

from emulators.acs import AcsEmulator, CallState, EmulatorOptions, HangUp, Say, Silence, SimulatedCall, WaitAgentHeard

from .conftest import ACCESS_KEY, APP_NUMBER, CALLER, MediaPeer, PeerConnection, StubApp

RATE = 16000
FRAME = 640  # 20 ms at 16 kHz


async def _connect(
    emulator: AcsEmulator,
    stub_app: StubApp,
    media_peer: MediaPeer,
    script: list[Any],
    audio_format: str = "pcm16KMono",
) -> tuple[SimulatedCall, PeerConnection]:
    call = await emulator.place_call(caller=CALLER, callee=APP_NUMBER, script=script)
    (event,) = await stub_app.wait_incoming(len(stub_app.notifications()) or 1)
    async with CallAutomationClient(emulator.endpoint, AzureKeyCredential(ACCESS_KEY)) as client:
        await client.answer_call(
            call.incoming_call_context or event["data"]["incomingCallContext"],
            stub_app.callback_url,
            media_streaming=MediaStreamingOptions(
                transport_url=media_peer.url(call.call_id),
                transport_type="websocket",
                content_type="audio",
                audio_channel_type="mixed",
                start_media_streaming=True,
                enable_bidirectional=True,
                audio_format=audio_format,
            ),
        )
    conn = await media_peer.next_connection()
    await call.wait_for("media_opened", timeout=5)
    return call, conn


def _tone(seconds: float, rate: int = RATE) -> bytes:
    import numpy as np

    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * 300 * t) * 6000 + 1).astype("<i2").tobytes()


async def test_metadata_then_audio_frames_paced_at_fifty_per_second_with_silent_flag(
    emulator: AcsEmulator, stub_app: StubApp, media_peer: MediaPeer
) -> None:
    call, conn = await _connect(emulator, stub_app, media_peer, [], audio_format="pcm24KMono")
    frames = await conn.wait_audio(51, within=5)
    first_kind, metadata = conn.messages[0][1]["kind"], conn.messages[0][1]
    assert first_kind == "AudioMetadata"
    assert metadata["audioMetadata"]["sampleRate"] == 24000
    assert metadata["audioMetadata"]["length"] == 960
    assert metadata["audioMetadata"]["encoding"] == "PCM" and metadata["audioMetadata"]["channels"] == 1
    assert conn.path.startswith(f"/media/{call.call_id}")

    times = [t for t, _ in frames[:51]]
    span = times[-1] - times[0]
    assert 0.9 <= span <= 1.15, f"50 frame intervals took {span:.3f}s"
    # No drift: the k-th frame arrives close to k * 20 ms after the first.
    worst = max(abs((t - times[0]) - k * 0.02) for k, t in enumerate(times))
    assert worst < 0.06
    audio = frames[0][1]["audioData"]
    assert audio["silent"] is True
    assert audio["participantRawID"] == f"4:{CALLER}"
    assert audio["timestamp"].endswith("Z")
    assert base64.b64decode(audio["data"]) == bytes(960)
    assert call.timeline.caller_frames_sent >= 51


async def test_say_step_sends_non_silent_frames_and_records_onset_and_offset(
    emulator: AcsEmulator, stub_app: StubApp, media_peer: MediaPeer
) -> None:
    call, conn = await _connect(emulator, stub_app, media_peer, [Silence(0.1), Say("hello there friend")])
    await call.wait_for("script_done", timeout=5)
    await asyncio.sleep(0.06)
    voiced = [m for _, m in conn.audio() if not m["audioData"]["silent"]]
    assert len(voiced) >= 8  # the stand-in renderer makes 180 ms of tone for three words
    assert all(any(base64.b64decode(m["audioData"]["data"])) for m in voiced)
    (utterance,) = call.timeline.caller_utterances
    assert utterance.text == "hello there friend"
    assert utterance.onset_at is not None and utterance.offset_at is not None
    assert 0.14 <= utterance.offset_at - utterance.onset_at <= 0.3


async def test_real_espeak_say_is_audible(stub_app: StubApp, media_peer: MediaPeer) -> None:
    async with AcsEmulator(access_key=ACCESS_KEY, event_grid_url=stub_app.event_grid_url) as emu:
        call, conn = await _connect(emu, stub_app, media_peer, [Say("yes")])
        await call.wait_for("script_done", timeout=10)
        voiced = [m for _, m in conn.audio() if not m["audioData"]["silent"]]
        assert len(voiced) >= 5


async def test_app_audio_is_played_at_real_time(
    emulator: AcsEmulator, stub_app: StubApp, media_peer: MediaPeer
) -> None:
    call, conn = await _connect(emulator, stub_app, media_peer, [])
    pcm = _tone(0.6)
    sent_at = time.perf_counter()
    await conn.send_audio(pcm, chunk=FRAME)  # all 30 frames at once, ahead of time
    await asyncio.sleep(0.9)
    (segment,) = call.timeline.agent_segments
    assert segment.frames == 30
    assert segment.ended_at is not None
    assert 0.55 <= segment.ended_at - segment.started_at <= 0.7
    assert segment.started_at - sent_at < 0.1
    assert call.heard_pcm() == pcm
    assert call.late_frames == 0


async def test_stop_audio_drops_buffered_audio_and_counts_frames_after_stop(
    emulator: AcsEmulator, stub_app: StubApp, media_peer: MediaPeer
) -> None:
    call, conn = await _connect(emulator, stub_app, media_peer, [])
    pcm = _tone(2.0)
    await conn.send_audio(pcm, chunk=FRAME, casing="camel")  # lower-case keys are accepted too
    await asyncio.sleep(0.5)
    await conn.stop_audio()
    await asyncio.sleep(0.05)
    await conn.send_audio(_tone(0.1), chunk=FRAME)  # 5 frames leaking after the stop
    await conn.ws.send("not json")
    await conn.ws.send(json.dumps({"kind": "AudioData", "audioData": {"data": "%%%"}}))
    await asyncio.sleep(0.3)

    tl = call.timeline
    assert len(call.stop_audio_times) == 1
    assert tl.stops[0].dropped_bytes > len(pcm) // 2
    assert call.frames_after_stop == 5
    assert tl.malformed_messages == 2
    first, *rest = tl.agent_segments
    assert first.interrupted
    assert 0.4 <= first.duration <= 0.6
    heard = len(call.heard_pcm())
    assert heard < len(pcm) // 2  # the caller heard ~0.5 s of the 2 s answer (+ the 0.1 s leak)


async def test_gaps_in_app_audio_are_counted_as_late_frames(
    emulator: AcsEmulator, stub_app: StubApp, media_peer: MediaPeer
) -> None:
    call, conn = await _connect(emulator, stub_app, media_peer, [])
    await conn.send_audio(_tone(0.1), chunk=FRAME)
    await asyncio.sleep(0.2)  # the buffer runs dry for ~100 ms mid-utterance
    await conn.send_audio(_tone(0.1), chunk=FRAME)
    await asyncio.sleep(0.6)  # a long pause ends the segment
    await conn.send_audio(_tone(0.1), chunk=FRAME)
    await asyncio.sleep(0.3)
    segments = call.timeline.agent_segments
    assert len(segments) == 2
    assert 3 <= segments[0].underruns <= 7
    assert segments[1].underruns == 0
    assert call.late_frames == segments[0].underruns


async def test_barge_in_script_speaks_while_agent_audio_is_playing(
    emulator: AcsEmulator, stub_app: StubApp, media_peer: MediaPeer
) -> None:
    call, conn = await _connect(emulator, stub_app, media_peer, [WaitAgentHeard(ms=200, timeout=3), Say("stop")])
    await conn.send_audio(_tone(1.5), chunk=FRAME)
    await call.wait_for("script_done", timeout=5)
    (utterance,) = call.timeline.caller_utterances
    segment = call.timeline.agent_segments[0]
    assert utterance.started_at is not None
    assert 0.18 <= utterance.started_at - segment.started_at < 0.4  # 10 frames of 20 ms heard
    assert call.timeline.first_played_after(utterance.started_at) is not None  # agent still audible


async def test_script_hang_up_closes_media_and_sends_call_disconnected(
    emulator: AcsEmulator, stub_app: StubApp, media_peer: MediaPeer
) -> None:
    call, conn = await _connect(emulator, stub_app, media_peer, [Silence(0.1), HangUp()])
    await asyncio.wait_for(call.finished, 5)
    await asyncio.wait_for(conn.closed.wait(), 2)
    assert call.state is CallState.DISCONNECTED and call.end_reason == "caller hung up"
    assert call.call_connection_id is not None
    assert stub_app.callback_types(call.call_connection_id)[-1] == "CallDisconnected"
    assert "MediaStreamingStarted" in call.event_types
    assert call.timeline.media_closed_at is not None


async def test_media_handshake_carries_configured_headers_and_app_close_is_survived(
    stub_app: StubApp, media_peer: MediaPeer
) -> None:
    options = EmulatorOptions(media_headers={"Authorization": "Bearer test-jwt"}, connect_delay=0.01)
    async with AcsEmulator(access_key=ACCESS_KEY, event_grid_url=stub_app.event_grid_url, options=options) as emu:
        call, conn = await _connect(emu, stub_app, media_peer, [])
        assert conn.headers.get("authorization") == "Bearer test-jwt"
        await conn.ws.close()
        await call.wait_for("media_closed", timeout=3)
        assert call.state is CallState.CONNECTED  # the socket going away does not end the call
