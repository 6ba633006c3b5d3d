"""The webhook edge refuses bad input with a clear 4xx and starts or disturbs no workflow."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from api.main import create_app
from switchboard.media_token import issue_media_token
from switchboard.settings import DEV_API_KEYS, Settings
from workflows.contracts import call_workflow_id

EVENTGRID = "/api/events/eventgrid"


def incoming_call_event(correlation_id: str, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "to": {"kind": "phoneNumber", "rawId": "4:+15550009999", "phoneNumber": {"value": "+15550009999"}},
        "from": {"kind": "phoneNumber", "rawId": "4:+15551230001", "phoneNumber": {"value": "+15551230001"}},
        "serverCallId": f"server-{correlation_id}",
        "callerDisplayName": "",
        "incomingCallContext": f"ctx-{correlation_id}",
        "correlationId": correlation_id,
    }
    data.update(overrides)
    return {
        "id": str(uuid.uuid4()),
        "topic": "/subscriptions/test/resourceGroups/rg/providers/Microsoft.Communication/communicationServices/acs",
        "subject": "/phonenumber/15550009999",
        "data": data,
        "eventType": "Microsoft.Communication.IncomingCall",
        "eventTime": "2026-11-24T10:00:00Z",
        "metadataVersion": "1",
        "dataVersion": "1.0",
    }


@pytest.fixture
async def api(settings: Settings, temporal_client: Client) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, temporal_client=temporal_client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        yield client


async def workflow_exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
        return True
    except Exception:
        return False


async def test_subscription_validation_echoes_the_code(api: httpx.AsyncClient) -> None:
    event = {
        "id": "v-1",
        "topic": "t",
        "subject": "",
        "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6", "validationUrl": "https://x"},
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "eventTime": "2026-11-24T10:00:00Z",
        "metadataVersion": "1",
        "dataVersion": "2",
    }
    response = await api.post(EVENTGRID, json=[event])
    assert response.status_code == 200
    assert response.json() == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}


@pytest.mark.parametrize(
    ("body", "headers", "status", "detail"),
    [
        ("{not json", {"content-type": "application/json"}, 400, "malformed_json"),
        ("[]", {"content-type": "application/json"}, 400, "expected_event_array"),
        ('"a string"', {"content-type": "application/json"}, 400, "expected_event_array"),
        ("<xml/>", {"content-type": "application/xml"}, 415, "unsupported_content_type"),
        ("[{}]", {"content-type": "text/plain"}, 415, "unsupported_content_type"),
        ('[{"id": "x"}]', {"content-type": "application/json"}, 400, "invalid_event_grid_event"),
    ],
)
async def test_malformed_event_grid_deliveries_are_refused(
    api: httpx.AsyncClient, body: str, headers: dict[str, str], status: int, detail: str
) -> None:
    response = await api.post(EVENTGRID, content=body, headers=headers)
    assert response.status_code == status
    assert response.json()["detail"] == detail


async def test_incoming_call_with_wrong_schema_starts_no_workflow(
    api: httpx.AsyncClient, temporal_client: Client
) -> None:
    correlation_id = f"bad-{uuid.uuid4()}"
    event = incoming_call_event(correlation_id)
    del event["data"]["incomingCallContext"]
    response = await api.post(EVENTGRID, json=[event])
    assert response.status_code == 400
    assert response.json()["detail"] == "invalid_incoming_call"
    assert not await workflow_exists(temporal_client, call_workflow_id(correlation_id))


async def test_unknown_event_type_in_a_batch_starts_nothing(api: httpx.AsyncClient, temporal_client: Client) -> None:
    correlation_id = f"mixed-{uuid.uuid4()}"
    unknown = incoming_call_event("other") | {"eventType": "Microsoft.Communication.SomethingElse"}
    response = await api.post(EVENTGRID, json=[incoming_call_event(correlation_id), unknown])
    assert response.status_code == 400
    assert response.json()["detail"] == "unsupported_event_type"
    assert not await workflow_exists(temporal_client, call_workflow_id(correlation_id))


async def test_oversized_body_is_refused_before_parsing(
    api: httpx.AsyncClient, settings: Settings, temporal_client: Client
) -> None:
    correlation_id = f"big-{uuid.uuid4()}"
    event = incoming_call_event(correlation_id, callerDisplayName="x" * (settings.api.max_body_bytes + 10))
    response = await api.post(EVENTGRID, content=json.dumps([event]), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["detail"] == "body_too_large"
    assert not await workflow_exists(temporal_client, call_workflow_id(correlation_id))


async def test_hostile_correlation_id_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.post(EVENTGRID, json=[incoming_call_event("../../etc/passwd")])
    assert response.status_code == 400


async def test_callback_without_a_valid_token_is_unauthorized(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/acs/callbacks/abc?token=nope", json=[])
    assert response.status_code == 401
    assert response.json()["detail"] == "bad_callback_token"


async def test_callback_for_an_unknown_call_is_not_found(api: httpx.AsyncClient, settings: Settings) -> None:
    correlation_id = f"ghost-{uuid.uuid4()}"
    token = issue_media_token(correlation_id, secret=settings.acs.media_token_secret.get_secret_value(), ttl_seconds=60)
    event = {
        "id": "e1",
        "source": "calling/callConnections/c1",
        "type": "Microsoft.Communication.CallConnected",
        "specversion": "1.0",
        "data": {"callConnectionId": "c1", "correlationId": correlation_id},
    }
    response = await api.post(f"/api/acs/callbacks/{correlation_id}?token={token}", json=[event])
    assert response.status_code == 404
    assert response.json()["detail"] == "call_not_found"


async def test_callback_with_an_unknown_event_type_is_refused(api: httpx.AsyncClient, settings: Settings) -> None:
    correlation_id = f"cb-{uuid.uuid4()}"
    token = issue_media_token(correlation_id, secret=settings.acs.media_token_secret.get_secret_value(), ttl_seconds=60)
    event = {"id": "e1", "source": "s", "type": "Microsoft.Communication.Nope", "specversion": "1.0", "data": {}}
    response = await api.post(f"/api/acs/callbacks/{correlation_id}?token={token}", json=[event])
    assert response.status_code == 400
    assert response.json()["detail"] == "unsupported_event_type"


async def test_unknown_call_state_is_not_found(api: httpx.AsyncClient) -> None:
    response = await api.get(f"/calls/call-{uuid.uuid4()}", headers={"X-API-Key": DEV_API_KEYS["staff"]})
    assert response.status_code == 404


async def test_openapi_lists_the_webhooks_and_calls(api: httpx.AsyncClient) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]
    assert {"/api/events/eventgrid", "/api/acs/callbacks/{correlation_id}", "/calls/{workflow_id}", "/health"} <= set(
        paths
    )


def recording_file_event(call_id: str = "corr-rec", recording_id: str = "rec-1", **data: Any) -> dict[str, Any]:
    chunk = {
        "documentId": "0-doc",
        "index": 0,
        "endReason": "SessionEnded",
        "contentLocation": "https://us-storage.asm.skype.com/v1/objects/0-doc/content/audio",
        "metadataLocation": "https://us-storage.asm.skype.com/v1/objects/0-doc/content/acsmetadata",
        "deleteLocation": "https://us-storage.asm.skype.com/v1/objects/0-doc",
    }
    body: dict[str, Any] = {
        "recordingStorageInfo": {"recordingChunks": [chunk]},
        "recordingStartTime": "2026-11-24T10:00:00Z",
        "recordingDurationMs": 4200,
        "recordingContentType": "Audio",
        "recordingChannelType": "Mixed",
        "recordingFormatType": "Wav",
        "sessionEndReason": "CallEnded",
    }
    body.update(data)
    return {
        "id": str(uuid.uuid4()),
        "topic": "/subscriptions/test/resourceGroups/rg/providers/Microsoft.Communication/communicationServices/acs",
        "subject": f"/recording/call/{call_id}/serverCallId/server-1/recordingId/{recording_id}",
        "data": body,
        "eventType": "Microsoft.Communication.RecordingFileStatusUpdated",
        "eventTime": "2026-11-24T10:01:00Z",
        "metadataVersion": "1",
        "dataVersion": "1.0",
    }


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"subject": "/recording/call/x"}, "invalid_recording_subject"),
        ({"subject": "/recording/call/x/serverCallId/s/recordingId/a'b"}, "invalid_recording_subject"),
        ({"data": {"recordingStorageInfo": {"recordingChunks": []}}}, "invalid_recording_file_event"),
        ({"data": {"recordingStorageInfo": {}}}, "invalid_recording_file_event"),
        (
            {"data": {"recordingStorageInfo": {"recordingChunks": [{"contentLocation": "http://evil.example/x"}]}}},
            "invalid_recording_file_event",
        ),
        (
            {"data": {"recordingDurationMs": -1, "recordingStorageInfo": {"recordingChunks": [{}]}}},
            "invalid_recording_file_event",
        ),
    ],
)
async def test_a_malformed_recording_file_event_is_refused(
    api: httpx.AsyncClient, change: dict[str, Any], detail: str
) -> None:
    event = recording_file_event()
    event.update({key: value for key, value in change.items() if key != "data"})
    if "data" in change:
        event["data"] = change["data"]
    response = await api.post(EVENTGRID, json=[event])
    assert (response.status_code, response.json()["detail"]) == (400, detail)


async def test_a_recording_file_for_no_known_call_answers_404_so_event_grid_redelivers(
    api: httpx.AsyncClient,
) -> None:
    response = await api.post(EVENTGRID, json=[recording_file_event(call_id=f"gone-{uuid.uuid4().hex}")])
    assert (response.status_code, response.json()["detail"]) == (404, "recording_call_not_found")
