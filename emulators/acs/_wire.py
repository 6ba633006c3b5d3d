"""Wire shapes: communication identifiers, ACS error bodies, Call Automation CloudEvents and Event Grid
events. Pure functions; ids and clocks are passed in or drawn from uuid4."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any

EVENT_PREFIX = "Microsoft.Communication."
EMULATOR_TOPIC = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/switchboard-emulator"
    "/providers/Microsoft.Communication/communicationServices/{name}"
)


def iso_z(moment: datetime | None = None) -> str:
    """ISO 8601 in UTC with a trailing Z and milliseconds: 2024-05-01T10:00:00.123Z."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def bare_number(value: str) -> str:
    """'4:+15551234567' -> '+15551234567'; other ids unchanged."""
    return value[2:] if value.startswith("4:") else value


def identifier(value: str) -> dict[str, Any]:
    """CommunicationIdentifierModel for a phone number ('+1555...' or '4:+1555...') or an ACS user ('8:acs:...')."""
    if value.startswith("8:"):
        return {"kind": "communicationUser", "rawId": value, "communicationUser": {"id": value}}
    number = bare_number(value)
    return {"kind": "phoneNumber", "rawId": f"4:{number}", "phoneNumber": {"value": number}}


def raw_id(value: str) -> str:
    return str(identifier(value)["rawId"])


def identifier_value(model: Any) -> str | None:
    """Phone number (or raw id) from an identifier model the app sent."""
    if not isinstance(model, dict):
        return None
    if isinstance(model.get("value"), str):  # PhoneNumberIdentifierModel, e.g. sourceCallerIdNumber
        return bare_number(str(model["value"]))
    phone = model.get("phoneNumber")
    if isinstance(phone, dict) and isinstance(phone.get("value"), str):
        return str(phone["value"])
    raw = model.get("rawId")
    if isinstance(raw, str):
        return bare_number(raw)
    user = model.get("communicationUser")
    if isinstance(user, dict) and isinstance(user.get("id"), str):
        return str(user["id"])
    return None


def error_body(code: str, message: str) -> dict[str, Any]:
    """ACS CommunicationErrorResponse."""
    return {"error": {"code": code, "message": message}}


def result_information(code: int, sub_code: int, message: str) -> dict[str, Any]:
    return {"code": code, "subCode": sub_code, "message": message}


def new_call_connection_id() -> str:
    return str(uuid.uuid4())


def new_server_call_id() -> str:
    # Real server call ids are base64url of a conversation URL; look alike, mean nothing.
    url = f"https://emulator.conv.switchboard.local/conv/{uuid.uuid4().hex}?i=0"
    return base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def incoming_call_context(secret: bytes, call_id: str) -> str:
    """An opaque, JWT-looking signed string. The emulator keeps a map from it to the call."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps({"cc": call_id, "n": uuid.uuid4().hex}).encode())
    signature = b64(hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}"


def cloud_event(
    event_type: str,
    *,
    call_connection_id: str,
    server_call_id: str,
    correlation_id: str,
    operation_context: str | None = None,
    result: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One Call Automation callback event (CloudEvents 1.0, JSON)."""
    data: dict[str, Any] = {
        "callConnectionId": call_connection_id,
        "serverCallId": server_call_id,
        "correlationId": correlation_id,
    }
    if operation_context is not None:
        data["operationContext"] = operation_context
    if result is not None:
        data["resultInformation"] = result
    if extra:
        data.update(extra)
    source = f"calling/callConnections/{call_connection_id}"
    return {
        "id": str(uuid.uuid4()),
        "source": source,
        "type": EVENT_PREFIX + event_type,
        "data": data,
        "time": (now or datetime.now(UTC)).isoformat(),
        "specversion": "1.0",
        "datacontenttype": "application/json",
        "subject": source,
    }


def event_grid_event(
    event_type: str, *, topic: str, subject: str, data: dict[str, Any], now: datetime | None = None
) -> dict[str, Any]:
    """One event in the Event Grid schema."""
    return {
        "id": str(uuid.uuid4()),
        "topic": topic,
        "subject": subject,
        "data": data,
        "eventType": event_type,
        "eventTime": iso_z(now),
        "metadataVersion": "1",
        "dataVersion": "1.0",
    }
