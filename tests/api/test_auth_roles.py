"""Back-office roles: API keys from settings, 401 without a key, 403 for the wrong role, webhooks
outside the roles, and the security schemes in OpenAPI."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import ValidationError
from temporalio.client import Client

from api.main import create_app
from api.routes.calls import build_calls_query
from switchboard.settings import DEV_API_KEYS, Settings

STAFF = {"X-API-Key": DEV_API_KEYS["staff"]}
AUDITOR = {"X-API-Key": DEV_API_KEYS["auditor"]}
ADMIN = {"Authorization": f"Bearer {DEV_API_KEYS['admin']}"}


@pytest.fixture
async def api(settings: Settings, temporal_client: Client) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, temporal_client=temporal_client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        yield client


async def test_back_office_routes_without_a_key_are_401_missing_api_key(api: httpx.AsyncClient) -> None:
    for method, path in [("GET", "/calls"), ("GET", "/claims"), ("POST", "/audit/calls/call-x/replay")]:
        response = await api.request(method, path)
        assert response.status_code == 401, path
        assert response.json()["detail"] == "missing_api_key"
        assert response.headers["www-authenticate"] == "Bearer"


async def test_an_unknown_key_is_401_invalid_api_key(api: httpx.AsyncClient) -> None:
    for headers in ({"X-API-Key": "nope"}, {"Authorization": "Bearer nope"}):
        response = await api.get("/calls", headers=headers)
        assert response.status_code == 401 and response.json()["detail"] == "invalid_api_key"


async def test_every_role_reads_by_header_or_bearer(api: httpx.AsyncClient) -> None:
    for headers in (STAFF, AUDITOR, ADMIN, {"Authorization": f"Bearer {DEV_API_KEYS['staff']}"}):
        response = await api.get("/calls", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["query"].startswith('WorkflowType = "CallWorkflow"')


async def test_auditor_may_not_act_and_staff_may_not_audit(api: httpx.AsyncClient) -> None:
    hang_up = await api.post("/calls/call-x/hang-up", json={"reason": "r"}, headers=AUDITOR)
    assert hang_up.status_code == 403 and hang_up.json()["detail"] == "forbidden_role"
    for method, path in [
        ("GET", "/audit/calls/call-x/export"),
        ("POST", "/audit/calls/call-x/replay"),
        ("GET", "/audit/calls/call-x/verify"),
    ]:
        response = await api.request(method, path, headers=STAFF)
        assert response.status_code == 403 and response.json()["detail"] == "forbidden_role", path


async def test_admin_may_act_and_audit(api: httpx.AsyncClient) -> None:
    missing = f"call-{uuid.uuid4()}"
    assert (await api.post(f"/calls/{missing}/hang-up", json={}, headers=ADMIN)).json()["detail"] == "call_not_found"
    export = await api.get(f"/audit/calls/{missing}/export", headers=ADMIN)
    assert export.status_code == 404 and export.json()["detail"] == "call_not_found"
    verify = await api.get(f"/audit/calls/{missing}/verify", headers=ADMIN)
    assert verify.status_code == 404 and verify.json()["detail"] == "record_not_found"


async def test_webhooks_are_not_behind_roles(api: httpx.AsyncClient) -> None:
    validation = {
        "id": "v1",
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "data": {"validationCode": "abc"},
    }
    response = await api.post("/api/events/eventgrid", json=[validation])
    assert response.status_code == 200 and response.json() == {"validationResponse": "abc"}


async def test_the_dashboard_page_is_public_but_its_data_is_not(api: httpx.AsyncClient) -> None:
    page = await api.get("/dashboard")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "X-API-Key" in page.text
    assert (await api.get("/claims")).status_code == 401


async def test_openapi_declares_the_security_schemes_on_back_office_routes(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "A back-office API key.",
    }
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    paths = spec["paths"]
    for path, method in [
        ("/calls", "get"),
        ("/calls/{workflow_id}", "get"),
        ("/calls/{workflow_id}/hang-up", "post"),
        ("/calls/{workflow_id}/live", "get"),
        ("/claims", "get"),
        ("/claims/{claim_id}", "get"),
        ("/audit/calls/{workflow_id}/export", "get"),
        ("/audit/calls/{workflow_id}/replay", "post"),
        ("/audit/replay", "post"),
        ("/audit/calls/{workflow_id}/verify", "get"),
    ]:
        assert {"APIKeyHeader": []} in paths[path][method]["security"], path
    assert "security" not in paths["/api/events/eventgrid"]["post"]
    assert "text/event-stream" in paths["/calls/{workflow_id}/live"]["get"]["responses"]["200"]["content"]


async def test_filter_values_that_could_inject_into_the_visibility_query_are_refused(api: httpx.AsyncClient) -> None:
    for params in (
        {"caller": '+1555" OR WorkflowType = "x'},
        {"agent": "a b"},
        {"claim_id": "x'"},
        {"status": "bogus"},
    ):
        response = await api.get("/calls", params=params, headers=STAFF)
        assert response.status_code == 422, params


def test_the_visibility_query_combines_filters_with_quoted_literals() -> None:
    query = build_calls_query(
        caller="+15551230001",
        status="connected",
        agent="fnol",
        claim_id="CLM-1",
        started_after=datetime(2026, 11, 1, tzinfo=UTC),
        started_before=datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert query == (
        'WorkflowType = "CallWorkflow" AND CallerNumber = "+15551230001" AND CallStatus = "connected"'
        ' AND CurrentAgent = "fnol" AND ClaimId = "CLM-1"'
        ' AND StartTime >= "2026-11-01T00:00:00Z" AND StartTime < "2026-12-01T00:00:00Z"'
    )
    with pytest.raises(ValueError, match="unsafe"):
        build_calls_query(caller='x" OR 1=1')


def test_development_api_keys_are_refused_in_production() -> None:
    production = {"environment": "production", "acs": {"access_key": "real", "media_token_secret": "real"}}
    with pytest.raises(ValidationError, match=r"auth\.api_keys\[dev-staff\]"):
        Settings.model_validate(production)
    own_keys = [{"name": "ops-1", "role": "staff", "key": "s3cret-key-of-ops"}]
    settings = Settings.model_validate({**production, "auth": {"api_keys": own_keys}})
    assert settings.auth.api_keys[0].role == "staff"
    assert "s3cret" not in repr(settings)


def test_api_keys_come_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_AUTH__API_KEYS", '[{"name": "aud-1", "role": "auditor", "key": "k-aud"}]')
    settings = Settings()
    assert [(k.name, k.role, k.key.get_secret_value()) for k in settings.auth.api_keys] == [
        ("aud-1", "auditor", "k-aud")
    ]
