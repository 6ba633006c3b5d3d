"""Reading a webhook body defensively: content type, size and JSON are checked before anything else."""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException, Request, status

JSON_CONTENT_TYPES = frozenset(
    {"application/json", "application/cloudevents+json", "application/cloudevents-batch+json"}
)


async def read_json_body(request: Request, *, max_bytes: int) -> Any:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in JSON_CONTENT_TYPES:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, detail="unsupported_content_type")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail="body_too_large")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail="body_too_large")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="malformed_json") from err


def as_event_list(payload: Any) -> list[Any]:
    """Event Grid and ACS deliver JSON arrays; a single object is accepted as a batch of one."""
    if isinstance(payload, dict):
        return [payload]
    if isinstance(payload, list) and payload:
        return payload
    raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="expected_event_array")
