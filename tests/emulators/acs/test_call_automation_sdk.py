"""The real Call Automation SDK (sync and aio), pointed at the emulator, drives calls end to end; the
emulator checks HMAC signatures and answers in ACS's shapes."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
import pytest
from azure.communication.callautomation import (
    CallAutomationClient,
    MediaStreamingOptions,
    PhoneNumberIdentifier,
    TextSource,
)
from azure.communication.callautomation.aio import CallAutomationClient as AioCallAutomationClient
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

from emulators.acs import AcsEmulator, CallState
from emulators.acs._auth import content_sha256, sign

from .conftest import ACCESS_KEY, APP_NUMBER, CALLER, FAILING, StubApp


def _media_options(url: str, *, start: bool = False) -> MediaStreamingOptions:
    return MediaStreamingOptions(
        transport_url=url,
        transport_type="websocket",
        content_type="audio",
        audio_channel_type="mixed",
        start_media_streaming=start,
        enable_bidirectional=True,
        audio_format="pcm24KMono",
    )


async def _ring(emulator: AcsEmulator, stub_app: StubApp) -> tuple[Any, dict[str, Any]]:
    call = await emulator.place_call(caller=CALLER, callee=APP_NUMBER)
    (event,) = await stub_app.wait_incoming(1)
    return call, event


async def test_sync_sdk_answers_with_media_options_and_app_gets_call_connected(
    emulator: AcsEmulator, stub_app: StubApp
) -> None:
    call, event = await _ring(emulator, stub_app)
    client = CallAutomationClient(emulator.endpoint, AzureKeyCredential(ACCESS_KEY))
    props = await asyncio.to_thread(
        client.answer_call,
        event["data"]["incomingCallContext"],
        stub_app.callback_url,
        operation_context="answer-ctx",
        media_streaming=_media_options("ws://127.0.0.1:9/unused"),
    )
    assert props.call_connection_id == call.call_connection_id
    assert props.server_call_id == call.server_call_id
    assert props.correlation_id == call.correlation_id
    assert props.call_connection_state == "connected"
    assert props.media_streaming_subscription is not None

    connected = await stub_app.wait_callback("CallConnected", call.call_connection_id)
    assert connected["data"]["operationContext"] == "answer-ctx"
    assert connected["data"]["resultInformation"]["code"] == 200
    answer = next(r for r in emulator.requests if r.operation == "answer")
    assert answer.body["mediaStreamingOptions"]["audioFormat"] == "pcm24KMono"
    assert answer.status == 200 and answer.received_at <= (answer.responded_at or 0)
    assert call.timeline.sample_rate == 24000


async def test_aio_sdk_get_call_play_and_hang_up(emulator: AcsEmulator, stub_app: StubApp) -> None:
    call, event = await _ring(emulator, stub_app)
    async with AioCallAutomationClient(emulator.endpoint, AzureKeyCredential(ACCESS_KEY)) as client:
        props = await client.answer_call(event["data"]["incomingCallContext"], stub_app.callback_url)
        connection = client.get_call_connection(props.call_connection_id)
        fetched = await connection.get_call_properties()
        assert fetched.call_connection_id == props.call_connection_id

        await connection.play_media(TextSource(text="One moment please"), operation_context="play-1")
        completed = await stub_app.wait_callback("PlayCompleted", props.call_connection_id)
        assert completed["data"]["operationContext"] == "play-1"
        assert completed["data"]["resultInformation"] == {
            "code": 200,
            "subCode": 0,
            "message": "Action completed successfully.",
        }

        await connection.hang_up(is_for_everyone=False)
        await stub_app.wait_callback("CallDisconnected", props.call_connection_id)
        await asyncio.wait_for(call.finished, 5)
        assert call.state is CallState.DISCONNECTED
        assert stub_app.callback_types(props.call_connection_id)[0] == "CallConnected"
        assert stub_app.callback_types(props.call_connection_id)[-1] == "CallDisconnected"
        hang_up = next(r for r in emulator.requests if r.operation == "hang_up")
        assert hang_up.method == "DELETE" and hang_up.status == 204

        with pytest.raises(ResourceNotFoundError) as info:
            await connection.get_call_properties()
        assert info.value.status_code == 404


async def test_sync_sdk_terminate_ends_the_call(emulator: AcsEmulator, stub_app: StubApp) -> None:
    call, event = await _ring(emulator, stub_app)
    client = CallAutomationClient(emulator.endpoint, AzureKeyCredential(ACCESS_KEY))
    props = await asyncio.to_thread(client.answer_call, event["data"]["incomingCallContext"], stub_app.callback_url)
    connection = client.get_call_connection(props.call_connection_id)
    await asyncio.to_thread(connection.hang_up, True)
    await stub_app.wait_callback("CallDisconnected", props.call_connection_id)
    assert next(r for r in emulator.requests if r.operation == "terminate").status == 204
    assert call.state is CallState.DISCONNECTED


async def test_aio_sdk_transfer_is_accepted_then_the_call_disconnects(emulator: AcsEmulator, stub_app: StubApp) -> None:
    call, event = await _ring(emulator, stub_app)
    async with AioCallAutomationClient(emulator.endpoint, AzureKeyCredential(ACCESS_KEY)) as client:
        props = await client.answer_call(event["data"]["incomingCallContext"], stub_app.callback_url)
        connection = client.get_call_connection(props.call_connection_id)
        result = await connection.transfer_call_to_participant(
            PhoneNumberIdentifier("+15550200000"), operation_context="to-humans"
        )
        assert result.operation_context == "to-humans"
        accepted = await stub_app.wait_callback("CallTransferAccepted", props.call_connection_id)
        await stub_app.wait_callback("CallDisconnected", props.call_connection_id)
    assert accepted["data"]["operationContext"] == "to-humans"
    assert accepted["data"]["transferTarget"]["rawId"] == "4:+15550200000"
    types = stub_app.callback_types(props.call_connection_id)
    assert types.index("CallTransferAccepted") < types.index("CallDisconnected")
    assert call.state is CallState.TRANSFERRED


async def test_sync_sdk_transfer_to_a_failing_target_gets_call_transfer_failed(
    emulator: AcsEmulator, stub_app: StubApp
) -> None:
    call, event = await _ring(emulator, stub_app)
    client = CallAutomationClient(emulator.endpoint, AzureKeyCredential(ACCESS_KEY))
    props = await asyncio.to_thread(client.answer_call, event["data"]["incomingCallContext"], stub_app.callback_url)
    connection = client.get_call_connection(props.call_connection_id)
    await asyncio.to_thread(
        connection.transfer_call_to_participant, PhoneNumberIdentifier(FAILING), operation_context="t2"
    )
    failed = await stub_app.wait_callback("CallTransferFailed", props.call_connection_id)
    info = failed["data"]["resultInformation"]
    assert set(info) >= {"code", "subCode", "message"} and info["code"] >= 400
    assert failed["data"]["operationContext"] == "t2"
    assert call.state is CallState.CONNECTED  # the caller stays with the app
    assert "CallDisconnected" not in stub_app.callback_types(props.call_connection_id)


async def test_sdk_starts_and_stops_recording_with_state_callbacks(emulator: AcsEmulator, stub_app: StubApp) -> None:
    call, event = await _ring(emulator, stub_app)
    client = CallAutomationClient(emulator.endpoint, AzureKeyCredential(ACCESS_KEY))
    await asyncio.to_thread(client.answer_call, event["data"]["incomingCallContext"], stub_app.callback_url)
    recording = await asyncio.to_thread(client.start_recording, server_call_id=call.server_call_id)
    assert recording.recording_id and recording.recording_state == "active"
    await asyncio.to_thread(client.stop_recording, recording.recording_id)
    assert call.call_connection_id is not None
    states = []
    for _ in range(50):
        states = [
            e["data"]["state"]
            for e in stub_app.callback_events(call.call_connection_id)
            if e["type"].endswith("RecordingStateChanged")
        ]
        if len(states) == 2:
            break
        await asyncio.sleep(0.02)
    assert states == ["active", "inactive"]
    assert next(r for r in emulator.requests if r.operation == "stop_recording").status == 204


async def test_sdk_create_call_is_accepted_and_connects(emulator: AcsEmulator, stub_app: StubApp) -> None:
    async with AioCallAutomationClient(emulator.endpoint, AzureKeyCredential(ACCESS_KEY)) as client:
        waiter = asyncio.create_task(emulator.wait_for_outbound_call(timeout=5))
        props = await client.create_call(
            PhoneNumberIdentifier("+15550300000"),
            stub_app.callback_url,
            source_caller_id_number=PhoneNumberIdentifier(APP_NUMBER),
        )
        call = await waiter
        assert props.call_connection_id == call.call_connection_id
        assert props.call_connection_state == "connecting"
        await stub_app.wait_callback("CallConnected", props.call_connection_id)
    assert call.direction == "outbound" and call.callee == "+15550300000" and call.caller == APP_NUMBER


async def test_wrong_access_key_is_rejected_with_401_in_acs_error_shape(emulator: AcsEmulator) -> None:
    wrong = base64.b64encode(b"not-the-right-key-at-all-000000").decode()
    client = CallAutomationClient(emulator.endpoint, AzureKeyCredential(wrong))
    with pytest.raises((ClientAuthenticationError, HttpResponseError)) as info:
        await asyncio.to_thread(client.get_call_connection("nope").get_call_properties)
    assert info.value.status_code == 401
    rejected = emulator.requests[-1]
    assert rejected.status == 401
    assert rejected.response["error"]["code"] == "Unauthorized"
    assert "Signature" in rejected.response["error"]["message"]


def _signed(method: str, endpoint: str, path: str, body: bytes, *, key: str = ACCESS_KEY) -> dict[str, str]:
    from email.utils import formatdate

    host = endpoint.removeprefix("http://")
    date = formatdate(usegmt=True)
    digest = content_sha256(body)
    signature = sign(key, f"{method}\n{path}\n{date};{host};{digest}")
    return {
        "x-ms-date": date,
        "x-ms-content-sha256": digest,
        "Authorization": f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={signature}",
        "Content-Type": "application/json",
    }


async def test_tampered_body_and_missing_signature_are_rejected(emulator: AcsEmulator) -> None:
    path = "/calling/recordings?api-version=2026-03-12"
    body = b'{"callLocator": {"serverCallId": "x", "kind": "serverCallLocator"}}'
    headers = _signed("POST", emulator.endpoint, path, body)
    async with httpx.AsyncClient(base_url=emulator.endpoint) as http:
        tampered = await http.post(path, content=body.replace(b'"x"', b'"y"'), headers=headers)
        unsigned = await http.post(path, content=body, headers={"Content-Type": "application/json"})
        genuine = await http.post(path, content=body, headers=headers)
    assert tampered.status_code == 401
    assert "x-ms-content-sha256" in tampered.json()["error"]["message"]
    assert unsigned.status_code == 401 and set(unsigned.json()["error"]) >= {"code", "message"}
    assert genuine.status_code == 404  # authentic, but no such call
    assert genuine.json()["error"]["code"] == "NotFound"


async def test_repeated_answer_with_same_repeatability_id_answers_once(
    emulator: AcsEmulator, stub_app: StubApp
) -> None:
    call, event = await _ring(emulator, stub_app)
    path = "/calling/callConnections:answer?api-version=2026-03-12"
    body = json.dumps(
        {"incomingCallContext": event["data"]["incomingCallContext"], "callbackUri": stub_app.callback_url}
    ).encode()
    async with httpx.AsyncClient(base_url=emulator.endpoint) as http:
        first = await http.post(
            path,
            content=body,
            headers={**_signed("POST", emulator.endpoint, path, body), "Repeatability-Request-ID": "r-1"},
        )
        again = await http.post(
            path,
            content=body,
            headers={**_signed("POST", emulator.endpoint, path, body), "Repeatability-Request-ID": "r-1"},
        )
        other = await http.post(
            path,
            content=body,
            headers={**_signed("POST", emulator.endpoint, path, body), "Repeatability-Request-ID": "r-2"},
        )
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert first.json()["callConnectionId"] == call.call_connection_id
    assert other.status_code == 400  # a genuinely new answer for an answered call is refused
    await call.wait_for("connected", timeout=5)
    await asyncio.sleep(0.1)
    assert stub_app.callback_types(call.call_connection_id).count("CallConnected") == 1
    answers = [r for r in emulator.requests if r.operation == "answer"]
    assert [r.repeated for r in answers] == [False, True, False]


async def test_unknown_call_connection_is_404_in_acs_error_shape(emulator: AcsEmulator) -> None:
    path = "/calling/callConnections/does-not-exist?api-version=2026-03-12"
    async with httpx.AsyncClient(base_url=emulator.endpoint) as http:
        response = await http.delete(path, headers=_signed("DELETE", emulator.endpoint, path, b""))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NotFound"
