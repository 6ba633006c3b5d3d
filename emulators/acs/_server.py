"""The emulator's HTTP surface: Call Automation REST (as the SDK calls it) and the control API."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from . import _wire
from ._auth import verify_request
from ._call import CallState, SimulatedCall
from ._recording import Recording, RecordingFile, parse_range, unsupported_options
from .script import ScriptError, load_script

if TYPE_CHECKING:
    from .emulator import AcsEmulator, RecordedRequest


class AcsError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class _Ctx:
    request: Request
    record: RecordedRequest
    body: dict[str, Any]
    params: dict[str, str]


Handler = Callable[["_CallAutomation", _Ctx], Awaitable[tuple[int, Any]]]
_ROUTES: list[tuple[str, re.Pattern[str], str]] = []


def _route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        _ROUTES.append((method, re.compile(pattern + r"\Z"), handler.__name__))
        return handler

    return register


_CC = r"/calling/callConnections/(?P<cc>[^/:]+)"
_REC = r"/calling/recordings/(?P<rec>[^/:]+)"


class _CallAutomation:
    """Call Automation operations. Each returns (status, JSON body or None)."""

    def __init__(self, emu: AcsEmulator) -> None:
        self.emu = emu

    # -- helpers

    def _call(self, ctx: _Ctx, *, live: bool = True) -> SimulatedCall:
        cc = ctx.params["cc"]
        call = self.emu.call_by_connection(cc)
        if call is None or (live and call.is_over):
            raise AcsError(404, "NotFound", f"Call connection {cc} was not found.")
        ctx.record.call_connection_id = cc
        return call

    # -- call connections

    @_route("POST", r"/calling/callConnections")
    async def create_call(self, ctx: _Ctx) -> tuple[int, Any]:
        body = ctx.body
        targets = body.get("targets") or []
        if not targets or not body.get("callbackUri"):
            raise AcsError(400, "BadRequest", "targets and callbackUri are required.")
        target = _wire.identifier_value(targets[0]) or ""
        source = _wire.identifier_value(body.get("sourceCallerIdNumber")) or _wire.identifier_value(body.get("source"))
        script = self.emu.outbound_scripts.get(target, list(self.emu.options.outbound_script))
        call = SimulatedCall(
            self.emu,
            direction="outbound",
            caller=source or "+10000000000",
            callee=target,
            script=list(script),
            max_call_seconds=self.emu.options.max_call_seconds,
        )
        call.created(body)
        self.emu._register_outbound(call)
        ctx.record.call_connection_id = call.call_connection_id
        return 201, call.properties()

    @_route("POST", r"/calling/callConnections:answer")
    async def answer(self, ctx: _Ctx) -> tuple[int, Any]:
        context = ctx.body.get("incomingCallContext")
        if not isinstance(context, str) or not ctx.body.get("callbackUri"):
            raise AcsError(400, "BadRequest", "incomingCallContext and callbackUri are required.")
        call = self.emu.call_by_context(context)
        if call is None:
            raise AcsError(400, "BadRequest", "The incomingCallContext is invalid.")
        if call.state is not CallState.RINGING:
            raise AcsError(400, "BadRequest", f"The call can no longer be answered (it is {call.state}).")
        call.answered(ctx.body)
        self.emu._register_connection(call)
        ctx.record.call_connection_id = call.call_connection_id
        return 200, call.properties()

    @_route("POST", r"/calling/callConnections:reject")
    async def reject(self, ctx: _Ctx) -> tuple[int, Any]:
        call = self.emu.call_by_context(str(ctx.body.get("incomingCallContext")))
        if call is None or call.state is not CallState.RINGING:
            raise AcsError(400, "BadRequest", "The incomingCallContext is invalid or the call was answered.")
        call._fail(f"rejected ({ctx.body.get('callRejectReason', 'none')})")
        return 204, None

    @_route("POST", r"/calling/callConnections:redirect")
    async def redirect(self, ctx: _Ctx) -> tuple[int, Any]:
        call = self.emu.call_by_context(str(ctx.body.get("incomingCallContext")))
        if call is None or call.state is not CallState.RINGING:
            raise AcsError(400, "BadRequest", "The incomingCallContext is invalid or the call was answered.")
        call.transfer_target = _wire.identifier_value(ctx.body.get("target"))
        call._fail(f"redirected to {call.transfer_target}")
        return 204, None

    @_route("GET", _CC)
    async def get_call(self, ctx: _Ctx) -> tuple[int, Any]:
        return 200, self._call(ctx).properties()

    @_route("DELETE", _CC)
    async def hang_up(self, ctx: _Ctx) -> tuple[int, Any]:
        self._call(ctx).hang_up("app hung up")
        return 204, None

    @_route("POST", _CC + r":terminate")
    async def terminate(self, ctx: _Ctx) -> tuple[int, Any]:
        self._call(ctx).hang_up("app terminated the call for everyone")
        return 204, None

    @_route("POST", _CC + r":transferToParticipant")
    async def transfer(self, ctx: _Ctx) -> tuple[int, Any]:
        call = self._call(ctx)
        target = ctx.body.get("targetParticipant")
        if not isinstance(target, dict) or _wire.identifier_value(target) is None:
            raise AcsError(400, "BadRequest", "targetParticipant is required.")
        context = ctx.body.get("operationContext")
        call.transfer(target, context)
        return 202, {"operationContext": context}

    @_route("POST", _CC + r":play")
    async def play(self, ctx: _Ctx) -> tuple[int, Any]:
        self._call(ctx).play(ctx.body)
        return 202, None

    @_route("POST", _CC + r":cancelAllMediaOperations")
    async def cancel_media(self, ctx: _Ctx) -> tuple[int, Any]:
        self._call(ctx).cancel_media_operations()
        return 202, None

    @_route("POST", _CC + r":startMediaStreaming")
    async def start_media_streaming(self, ctx: _Ctx) -> tuple[int, Any]:
        call = self._call(ctx)
        if not call.start_media(ctx.body.get("operationContext")):
            raise AcsError(400, "BadRequest", "The call has no media streaming transport URL.")
        return 202, None

    @_route("POST", _CC + r":stopMediaStreaming")
    async def stop_media_streaming(self, ctx: _Ctx) -> tuple[int, Any]:
        call = self._call(ctx)
        if call.media is not None:
            await call.media.close("stopMediaStreaming")
        return 202, None

    @_route("GET", _CC + r"/participants")
    async def participants(self, ctx: _Ctx) -> tuple[int, Any]:
        call = self._call(ctx)
        value = [
            {"identifier": _wire.identifier(call.caller), "isMuted": False, "isOnHold": False},
            {"identifier": _wire.identifier(call.callee), "isMuted": False, "isOnHold": False},
        ]
        return 200, {"value": value}

    # -- recordings

    @_route("POST", r"/calling/recordings")
    async def start_recording(self, ctx: _Ctx) -> tuple[int, Any]:
        locator = ctx.body.get("callLocator") or {}
        server_call_id = locator.get("serverCallId") if isinstance(locator, dict) else None
        call = self.emu.call_by_server_call_id(str(server_call_id)) if server_call_id else None
        if call is None and isinstance(ctx.body.get("callConnectionId"), str):
            call = self.emu.call_by_connection(ctx.body["callConnectionId"])
        if call is None or call.is_over:
            raise AcsError(404, "NotFound", "No active call matches the call locator.")
        ctx.record.call_connection_id = call.call_connection_id
        unsupported = unsupported_options(ctx.body)
        if unsupported:
            raise AcsError(400, "BadRequest", unsupported)
        recording = Recording(
            recording_id=base64url_id(),
            call=call,
            kind="azureCommunicationServices",
            state="inactive" if ctx.body.get("pauseOnStart") else "active",
            callback_uri=ctx.body.get("recordingStateCallbackUri"),
        )
        self.emu.recordings[recording.recording_id] = recording
        call.add_recording(recording)
        return 200, self._recording_body(recording)

    def _recording(self, ctx: _Ctx) -> Recording:
        recording = self.emu.recordings.get(ctx.params["rec"])
        if recording is None:
            raise AcsError(404, "NotFound", f"Recording {ctx.params['rec']} was not found.")
        ctx.record.call_connection_id = recording.call.call_connection_id
        return recording

    @staticmethod
    def _recording_body(recording: Recording) -> dict[str, Any]:
        return {
            "recordingId": recording.recording_id,
            "recordingState": recording.state,
            "recordingKind": recording.kind,
        }

    @_route("GET", _REC)
    async def get_recording(self, ctx: _Ctx) -> tuple[int, Any]:
        return 200, self._recording_body(self._recording(ctx))

    @_route("DELETE", _REC)
    async def stop_recording(self, ctx: _Ctx) -> tuple[int, Any]:
        recording = self._recording(ctx)
        recording.call.end_recording(recording, "stopped by the app")
        return 204, None

    def _live_recording(self, ctx: _Ctx) -> Recording:
        recording = self._recording(ctx)
        if recording.ended:
            raise AcsError(400, "BadRequest", f"Recording {recording.recording_id} has ended.")
        return recording

    @_route("POST", _REC + r":pause")
    async def pause_recording(self, ctx: _Ctx) -> tuple[int, Any]:
        recording = self._live_recording(ctx)
        recording.call.pause_recording(recording)
        return 202, None

    @_route("POST", _REC + r":resume")
    async def resume_recording(self, ctx: _Ctx) -> tuple[int, Any]:
        recording = self._live_recording(ctx)
        recording.call.resume_recording(recording)
        return 202, None


def base64url_id() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex[:8]


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(_wire.error_body(code, message), status_code=status)


def _respond(status: int, payload: Any) -> Response:
    if status == 204 or payload is None:
        return Response(status_code=status)
    return JSONResponse(payload, status_code=status)


# ---------------------------------------------------------------- control API models


class PlaceCallBody(BaseModel):
    caller: str = Field(description="Caller number, e.g. +15550001111")
    callee: str = Field(description="The number the caller dialled (the app's number)")
    script: list[dict[str, Any]] = Field(default_factory=list, description="Caller script, data form")
    deliveries: int = Field(default=1, ge=1, le=20, description="IncomingCall deliveries (same event id)")
    caller_display_name: str = ""
    event_grid_url: str | None = None
    max_call_seconds: float | None = None


def build_app(emu: AcsEmulator) -> FastAPI:
    app = FastAPI(title="ACS emulator", docs_url="/emulator/docs", openapi_url="/emulator/openapi.json")
    api = _CallAutomation(emu)

    @app.api_route("/calling/{rest:path}", methods=["GET", "POST", "DELETE", "PUT", "PATCH"])
    async def calling(request: Request) -> Response:
        return await _handle_calling(emu, api, request)

    @app.api_route("/v1/objects/{rest:path}", methods=["GET", "DELETE", "POST", "PUT", "PATCH", "HEAD"])
    async def recording_storage(request: Request) -> Response:
        return await _handle_storage(emu, request)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "calls": len(emu.calls)}

    @app.post("/emulator/calls")
    async def place_call(body: PlaceCallBody) -> JSONResponse:
        from .emulator import EmulatorError

        try:
            call = await emu.place_call(
                caller=body.caller,
                callee=body.callee,
                script=load_script(body.script),
                deliveries=body.deliveries,
                caller_display_name=body.caller_display_name,
                event_grid_url=body.event_grid_url,
                max_call_seconds=body.max_call_seconds,
            )
        except ScriptError as exc:
            return _error(422, "InvalidScript", str(exc))
        except EmulatorError as exc:
            return _error(502, type(exc).__name__, str(exc))
        return JSONResponse(
            {
                "call_id": call.call_id,
                "correlation_id": call.correlation_id,
                "server_call_id": call.server_call_id,
                "state": str(call.state),
            }
        )

    @app.get("/emulator/calls")
    async def list_calls() -> dict[str, Any]:
        return {
            "calls": [
                {"call_id": c.call_id, "direction": c.direction, "state": str(c.state), "caller": c.caller}
                for c in emu.calls
            ]
        }

    @app.get("/emulator/calls/{call_id}")
    async def get_call(call_id: str) -> JSONResponse:
        call = emu.get_call(call_id)
        if call is None:
            return _error(404, "CallNotFound", f"No call {call_id}.")
        return JSONResponse(call.summary())

    @app.post("/emulator/calls/{call_id}/hang-up")
    async def caller_hang_up(call_id: str) -> JSONResponse:
        call = emu.get_call(call_id)
        if call is None:
            return _error(404, "CallNotFound", f"No call {call_id}.")
        await call.caller_hang_up()
        return JSONResponse(call.summary())

    @app.get("/emulator/requests")
    async def list_requests(call_connection_id: str | None = None) -> dict[str, Any]:
        return {
            "requests": [
                {
                    "method": r.method,
                    "path": r.path,
                    "operation": r.operation,
                    "status": r.status,
                    "repeated": r.repeated,
                    "call_connection_id": r.call_connection_id,
                    "received_at": r.received_wall.isoformat(),
                    "body": r.body,
                }
                for r in emu.requests
                if call_connection_id is None or r.call_connection_id == call_connection_id
            ]
        }

    @app.get("/emulator/eventgrid/validate/{code}")
    async def validate(code: str) -> JSONResponse:
        if not emu.validate_manually(code):
            return _error(404, "NotFound", "Unknown or expired validation code.")
        return JSONResponse({"validated": True})

    return app


def _new_record(emu: AcsEmulator, request: Request, raw: bytes) -> RecordedRequest:
    """Record one request in `emu.requests` (Authorization redacted)."""
    from .emulator import RecordedRequest

    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else str(raw_path)
    query = request.scope.get("query_string", b"").decode("latin-1")
    headers = {k: ("<redacted>" if k == "authorization" else v) for k, v in request.headers.items()}
    try:
        parsed: Any = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    record = RecordedRequest(
        method=request.method,
        path=path,
        query=query,
        headers=headers,
        body=parsed,
        raw_body=raw,
        received_at=time.perf_counter(),
        received_wall=datetime.now(UTC),
    )
    emu.requests.append(record)
    return record


async def _handle_calling(emu: AcsEmulator, api: _CallAutomation, request: Request) -> Response:
    raw = await request.body()
    record = _new_record(emu, request, raw)
    path, query, parsed = record.path, record.query, record.body

    def finish(status: int, payload: Any) -> Response:
        record.status = status
        record.response = payload
        record.responded_at = time.perf_counter()
        if status >= 400 and isinstance(payload, dict) and "error" in payload:
            return JSONResponse(payload, status_code=status)
        return _respond(status, payload)

    failure = verify_request(
        access_key=emu.access_key,
        method=request.method,
        path_and_query=path + (f"?{query}" if query else ""),
        headers=request.headers,
        body=raw,
        max_clock_skew=emu.options.max_clock_skew,
    )
    if failure is not None:
        return finish(401, _wire.error_body("Unauthorized", failure))
    if "api-version" not in request.query_params:
        message = "The api-version query parameter is required."
        return finish(400, _wire.error_body("MissingApiVersionParameter", message))

    route = None
    path_matched = False
    for method, pattern, name in _ROUTES:
        match = pattern.match(path)
        if match:
            path_matched = True
            if method == request.method:
                route = (name, match.groupdict())
                break
    if route is None:
        if path_matched:
            return finish(405, _wire.error_body("MethodNotAllowed", f"{request.method} is not allowed on {path}."))
        return finish(404, _wire.error_body("NotFound", f"No operation at {path}."))
    name, params = route
    record.operation = name
    if raw and not isinstance(parsed, dict):
        return finish(400, _wire.error_body("BadRequest", "The request body must be a JSON object."))
    ctx = _Ctx(request=request, record=record, body=parsed or {}, params=params)
    handler: Handler = getattr(_CallAutomation, name)

    request_id = request.headers.get("repeatability-request-id")
    if request_id:
        future, fresh = emu.repeatable(request_id)
        if not fresh:
            record.repeated = True
            status, payload = await future
            return finish(status, payload)
    try:
        status, payload = await handler(api, ctx)
    except AcsError as exc:
        status, payload = exc.status, _wire.error_body(exc.code, exc.message)
    except Exception as exc:
        status, payload = 500, _wire.error_body("InternalServerError", f"Emulator error: {type(exc).__name__}")
        logging.getLogger(__name__).exception("ACS emulator: %s failed", name)
    if request_id:
        if not future.done():
            future.set_result((status, payload))
        if status >= 500:
            emu.forget_repeatable(request_id)
    return finish(status, payload)


# ---------------------------------------------------------------- recording storage

_OBJECT = re.compile(r"/v1/objects/(?P<doc>[^/]+)(?P<rest>/content/audio|/content/acsmetadata)?\Z")


async def _handle_storage(emu: AcsEmulator, request: Request) -> Response:
    """Recording content, metadata and delete, as the SDK's download_recording / delete_recording call
    them: HMAC-signed like Call Automation, but the signed host is the ACS resource's (the SDK also
    sends it as ``x-ms-host``), not the storage host the request went to. No api-version."""
    raw = await request.body()
    record = _new_record(emu, request, raw)

    def finish(status: int, payload: Any, response: Response | None = None) -> Response:
        record.status = status
        record.response = payload
        record.responded_at = time.perf_counter()
        if response is not None:
            return response
        return _respond(status, payload)

    ms_host = request.headers.get("x-ms-host")
    if not ms_host:
        return finish(401, _wire.error_body("Unauthorized", "Missing x-ms-host header."))
    hosts = [h for h in (request.headers.get("host"), ms_host, f"{ms_host}:{emu.port}") if h]
    failure = verify_request(
        access_key=emu.access_key,
        method=request.method,
        path_and_query=record.path + (f"?{record.query}" if record.query else ""),
        headers=request.headers,
        body=raw,
        max_clock_skew=emu.options.max_clock_skew,
        signed_hosts=hosts,
    )
    if failure is not None:
        return finish(401, _wire.error_body("Unauthorized", failure))

    match = _OBJECT.match(record.path)
    if match is None:
        return finish(404, _wire.error_body("NotFound", f"No object at {record.path}."))
    rest = match["rest"]
    record.operation = {
        None: "delete_recording",
        "/content/audio": "download_recording",
        "/content/acsmetadata": "download_recording_metadata",
    }[rest]
    allowed = "DELETE" if rest is None else "GET"
    if request.method != allowed:
        return finish(405, _wire.error_body("MethodNotAllowed", f"{request.method} is not allowed on {record.path}."))
    file = emu.recording_files.get(match["doc"])
    if file is not None:
        record.call_connection_id = file.call_connection_id
    if file is None or file.deleted:
        return finish(404, _wire.error_body("NotFound", f"Document {match['doc']} was not found."))

    if rest is None:
        file.deleted = True
        return finish(200, None, Response(status_code=200))
    if rest == "/content/acsmetadata":
        body = json.dumps(file.metadata).encode()
        return finish(200, {"bytes": len(body)}, Response(body, status_code=200, media_type="application/json"))
    return _serve_content(file, request.headers.get("range"), finish)


def _serve_content(
    file: RecordingFile, range_header: str | None, finish: Callable[[int, Any, Response | None], Response]
) -> Response:
    size = len(file.content)
    headers = {"Accept-Ranges": "bytes"}
    try:
        span = parse_range(range_header, size)
    except ValueError as exc:
        response = JSONResponse(
            _wire.error_body("InvalidRange", str(exc)),
            status_code=416,
            headers={**headers, "Content-Range": f"bytes */{size}"},
        )
        return finish(416, _wire.error_body("InvalidRange", str(exc)), response)
    if span is None:
        return finish(
            200, {"bytes": size}, Response(file.content, status_code=200, media_type="audio/wav", headers=headers)
        )
    start, end = span
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    body = file.content[start : end + 1]
    summary = {"bytes": len(body), "range": [start, end]}
    return finish(206, summary, Response(body, status_code=206, media_type="audio/wav", headers=headers))
