"""`AcsEmulator`: the HTTP server (Call Automation REST + control API), Event Grid delivery and the
registry of simulated calls. See the package docstring for the tour."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import secrets
import socket
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn
from azure.core.pipeline.transport import AsyncHttpTransport

from switchboard.speech import render_speech

from . import _wire
from ._call import Renderer, SimulatedCall
from ._delivery import Delivery, post_json
from ._recording import (
    DEFAULT_STORAGE_URL,
    Recording,
    RecordingFile,
    StorageRedirectTransport,
    build_recording_file,
)
from .script import Say, Step, load_script

log = logging.getLogger(__name__)


class EmulatorError(RuntimeError):
    """Base class for errors the emulator raises to its user."""


class EmulatorClosed(EmulatorError):
    """The emulator is not running (not started yet, or closed)."""


class EventGridValidationError(EmulatorError):
    """The webhook did not complete the Event Grid subscription validation handshake."""


class IncomingCallDeliveryError(EmulatorError):
    """The IncomingCall event could not be delivered to the webhook."""


@dataclass(frozen=True)
class EmulatorOptions:
    """Behaviour knobs. Times in seconds unless named otherwise."""

    failing_targets: frozenset[str] = frozenset()  # transfer / create-call targets that fail
    transfer_failure: Mapping[str, Any] = field(
        default_factory=lambda: _wire.result_information(500, 0, "Transfer target unreachable (emulated).")
    )
    connect_delay: float = 0.05  # answer -> CallConnected
    transfer_delay: float = 0.1  # transfer request -> accepted / failed
    outbound_answer_delay: float = 0.2  # create call -> callee answers
    outbound_script: tuple[Step, ...] = ()  # what the callee of an outbound call does
    ring_timeout: float = 60.0  # an inbound call nobody answers is abandoned after this
    max_call_seconds: float = 900.0  # the caller hangs up after this, whatever the script says
    callback_attempts: int = 4  # per callback / Event Grid event, with exponential backoff
    callback_backoff: float = 0.1
    redelivery_interval: float = 0.05  # gap between repeated IncomingCall deliveries
    drain_timeout: float = 5.0  # how long a finished call waits for its last callbacks
    keep_audio: bool = True  # keep the PCM the caller heard (turn off for big benchmarks)
    underrun_gap_ms: int = 300  # an agent playout gap shorter than this is an underrun
    stop_window_ms: int = 300  # minimum "frames after StopAudio" window
    media_connect_timeout: float = 5.0
    media_headers: Mapping[str, str] = field(default_factory=dict)  # e.g. {"Authorization": "Bearer <jwt>"}
    callback_headers: Mapping[str, str] = field(default_factory=dict)  # extra headers on every callback
    play_file_seconds: float = 1.0  # estimated length of a file play source
    max_loop_play_seconds: float = 30.0
    max_clock_skew: timedelta = timedelta(minutes=15)  # x-ms-date tolerance
    resource_name: str = "switchboard-emulator"
    # Base of the recording content/metadata/delete URLs in RecordingFileStatusUpdated. The SDK only
    # downloads from https://*.asm.skype.com, so the default looks like that; see storage_transport().
    recording_storage_url: str = DEFAULT_STORAGE_URL
    recording_file_delay: float = 0.05  # recording ended -> RecordingFileStatusUpdated (ACS: minutes)


@dataclass
class RecordedRequest:
    """One Call Automation REST request as the emulator received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    raw_body: bytes = field(repr=False)
    received_at: float  # time.perf_counter()
    received_wall: datetime
    operation: str | None = None
    call_connection_id: str | None = None
    status: int | None = None
    response: Any = None
    repeated: bool = False  # answered from the Repeatability-Request-ID cache
    responded_at: float | None = None


class _QuietServer(uvicorn.Server):
    """uvicorn in-process: leave the host's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield


class AcsEmulator:
    """Plays Azure Communication Services for one test, benchmark or local run.

    `async with AcsEmulator(access_key=..., event_grid_url=...) as emu:` starts the HTTP server;
    `emu.endpoint` is what `CallAutomationClient(endpoint, AzureKeyCredential(key))` needs.
    """

    def __init__(
        self,
        *,
        access_key: str | None = None,
        event_grid_url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        failing_targets: Iterable[str] = (),
        options: EmulatorOptions | None = None,
        renderer: Renderer | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.access_key = access_key or base64.b64encode(secrets.token_bytes(32)).decode()
        try:
            base64.b64decode(self.access_key, validate=True)
        except ValueError as exc:
            raise ValueError("access_key must be base64, like an ACS access key") from exc
        self.event_grid_url = event_grid_url
        self.host = host
        self.port = port
        opts = options or EmulatorOptions()
        targets = frozenset(_wire.bare_number(t) for t in (*opts.failing_targets, *failing_targets))
        self.options = EmulatorOptions(**{**opts.__dict__, "failing_targets": targets})
        self.requests: list[RecordedRequest] = []
        self.incoming_deliveries: list[Delivery] = []
        self.validations: list[Delivery] = []
        self.recordings: dict[str, Recording] = {}
        self.recording_files: dict[str, RecordingFile] = {}  # by documentId, deleted ones included
        self.recording_deliveries: list[Delivery] = []  # RecordingFileStatusUpdated posts
        self.outbound_scripts: dict[str, list[Step]] = {}
        self._calls: dict[str, SimulatedCall] = {}
        self._by_connection: dict[str, SimulatedCall] = {}
        self._by_context: dict[str, SimulatedCall] = {}
        self._validated: set[str] = set()
        self._validation_locks: dict[str, asyncio.Lock] = {}
        self._manual_validations: dict[str, str] = {}
        self._repeatability: dict[str, asyncio.Future[tuple[int, Any]]] = {}
        self._renderer: Renderer = renderer or _default_renderer
        self._render_cache: dict[tuple[str, str | None, int], asyncio.Future[bytes]] = {}
        self._context_secret = secrets.token_bytes(32)
        self._external_http = http_client
        self._http: httpx.AsyncClient | None = None
        self._server: _QuietServer | None = None
        self._serve_task: asyncio.Task[None] | None = None
        self._outbound_waiters: list[asyncio.Future[SimulatedCall]] = []

    # ---------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> AcsEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        if self._server is not None:
            raise EmulatorError("the emulator is already running")
        from ._server import build_app

        self._http = self._external_http or httpx.AsyncClient(timeout=httpx.Timeout(5.0))
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            build_app(self),
            log_level="warning",
            lifespan="off",
            access_log=False,
            ws="none",
            timeout_graceful_shutdown=2,
        )
        self._server = _QuietServer(config)
        self._serve_task = asyncio.create_task(self._server.serve(sockets=[sock]), name="acs-emulator-http")
        deadline = time.perf_counter() + 10
        while not self._server.started:
            if self._serve_task.done():
                await self._serve_task
                raise EmulatorError("the emulator's HTTP server stopped during start-up")
            if time.perf_counter() > deadline:
                raise EmulatorError("the emulator's HTTP server did not start within 10 s")
            await asyncio.sleep(0.01)
        log.info("ACS emulator listening on %s", self.endpoint)

    async def close(self) -> None:
        calls = list(self._calls.values())
        if calls:
            await asyncio.gather(*(c.aclose() for c in calls), return_exceptions=True)
        for waiter in self._outbound_waiters:
            waiter.cancel()
        for pending in self._render_cache.values():
            pending.cancel()
        if self._server is not None:
            self._server.should_exit = True
        if self._serve_task is not None:
            try:
                await asyncio.wait_for(self._serve_task, timeout=5)
            except TimeoutError:
                self._serve_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._serve_task
        if self._http is not None and self._external_http is None:
            await self._http.aclose()
        self._server = None
        self._serve_task = None
        self._http = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def endpoint(self) -> str:
        """Base URL for CallAutomationClient and the control API: http://host:port (no trailing slash)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def connection_string(self) -> str:
        """ACS connection string. Note: the SDK's from_connection_string forces https; prefer
        CallAutomationClient(emu.endpoint, AzureKeyCredential(emu.access_key))."""
        return f"endpoint={self.endpoint}/;accesskey={self.access_key}"

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            raise EmulatorClosed("the emulator is not running; use `async with AcsEmulator(...)`")
        return self._http

    # ---------------------------------------------------------------- calls

    @property
    def calls(self) -> list[SimulatedCall]:
        return list(self._calls.values())

    def get_call(self, call_id: str) -> SimulatedCall | None:
        return self._calls.get(call_id)

    def call_by_connection(self, call_connection_id: str) -> SimulatedCall | None:
        return self._by_connection.get(call_connection_id)

    def call_by_context(self, incoming_call_context: str) -> SimulatedCall | None:
        return self._by_context.get(incoming_call_context)

    def call_by_server_call_id(self, server_call_id: str) -> SimulatedCall | None:
        return next((c for c in self._calls.values() if c.server_call_id == server_call_id), None)

    async def place_call(
        self,
        *,
        caller: str,
        callee: str,
        script: Iterable[Step | Mapping[str, Any]] | None = None,
        deliveries: int = 1,
        caller_display_name: str = "",
        event_grid_url: str | None = None,
        max_call_seconds: float | None = None,
    ) -> SimulatedCall:
        """Ring the app: Event Grid validation (once per webhook URL), then IncomingCall `deliveries`
        times with the same event id. Returns once the first delivery succeeded; later deliveries go
        on in the background. Raises EventGridValidationError / IncomingCallDeliveryError / ScriptError."""
        if deliveries < 1:
            raise ValueError("deliveries must be at least 1")
        steps = load_script(script)
        url = event_grid_url or self.event_grid_url
        if not url:
            raise EmulatorError("no Event Grid webhook URL: pass event_grid_url to AcsEmulator or place_call")
        await self._ensure_validated(url)
        call = SimulatedCall(
            self,
            direction="inbound",
            caller=caller,
            callee=callee,
            script=steps,
            caller_display_name=caller_display_name,
            max_call_seconds=max_call_seconds or self.options.max_call_seconds,
        )
        call.incoming_call_context = _wire.incoming_call_context(self._context_secret, call.call_id)
        call.event_grid_url = url
        self._calls[call.call_id] = call
        self._by_context[call.incoming_call_context] = call
        event = self._incoming_call_event(call)
        first = await self._deliver_incoming(call, url, event)
        if not first.delivered:
            call._fail("IncomingCall not delivered")
            raise IncomingCallDeliveryError(
                f"IncomingCall to {url} failed after {len(first.attempts)} attempt(s): "
                f"{first.attempts[-1].error or first.attempts[-1].status if first.attempts else 'no attempt'}"
            )
        call._reach("incoming_delivered")
        if deliveries > 1:
            call._spawn(self._redeliver(call, url, event, deliveries - 1), "redeliver")
        call._spawn(self._ring_timeout(call), "ring-timeout")
        return call

    # Bounded by default; callers pass timeout= (hence ASYNC109).
    async def wait_for_outbound_call(self, *, timeout: float = 10.0) -> SimulatedCall:  # noqa: ASYNC109
        """The next call the app creates (POST /calling/callConnections)."""
        waiter: asyncio.Future[SimulatedCall] = asyncio.get_running_loop().create_future()
        self._outbound_waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter, timeout)
        finally:
            with contextlib.suppress(ValueError):
                self._outbound_waiters.remove(waiter)

    def _register_outbound(self, call: SimulatedCall) -> None:
        self._calls[call.call_id] = call
        if call.call_connection_id:
            self._by_connection[call.call_connection_id] = call
        for waiter in self._outbound_waiters:
            if not waiter.done():
                waiter.set_result(call)
                break

    def _register_connection(self, call: SimulatedCall) -> None:
        if call.call_connection_id:
            self._by_connection[call.call_connection_id] = call

    async def _ring_timeout(self, call: SimulatedCall) -> None:
        await asyncio.sleep(self.options.ring_timeout)
        if call.call_connection_id is None and not call.is_over:
            call._fail("not answered")

    # ---------------------------------------------------------------- Event Grid

    def _topic(self) -> str:
        return _wire.EMULATOR_TOPIC.format(name=self.options.resource_name)

    def _incoming_call_event(self, call: SimulatedCall) -> dict[str, Any]:
        data = {
            "to": _wire.identifier(call.callee),
            "from": _wire.identifier(call.caller),
            "serverCallId": call.server_call_id,
            "callerDisplayName": call.caller_display_name,
            "incomingCallContext": call.incoming_call_context,
            "correlationId": call.correlation_id,
        }
        return _wire.event_grid_event(
            "Microsoft.Communication.IncomingCall",
            topic=self._topic(),
            subject=f"/caller/{_wire.raw_id(call.caller)}/recipient/{_wire.raw_id(call.callee)}",
            data=data,
        )

    def _event_grid_headers(self, kind: str) -> dict[str, str]:
        return {
            "aeg-event-type": kind,
            "aeg-subscription-name": "SWITCHBOARD-EMULATOR",
            "aeg-data-version": "1.0",
            "aeg-metadata-version": "1",
        }

    async def _deliver_incoming(self, call: SimulatedCall, url: str, event: dict[str, Any]) -> Delivery:
        delivery = await post_json(
            self.http,
            url,
            [event],
            headers=self._event_grid_headers("Notification"),
            attempts=self.options.callback_attempts,
            backoff=self.options.callback_backoff,
            header_for_attempt="aeg-delivery-count",
        )
        call.incoming_deliveries.append(delivery)
        self.incoming_deliveries.append(delivery)
        return delivery

    async def _redeliver(self, call: SimulatedCall, url: str, event: dict[str, Any], times: int) -> None:
        for _ in range(times):
            await asyncio.sleep(self.options.redelivery_interval)
            await self._deliver_incoming(call, url, event)

    async def _ensure_validated(self, url: str) -> None:
        if url in self._validated:
            return
        lock = self._validation_locks.setdefault(url, asyncio.Lock())
        async with lock:
            if url in self._validated:
                return
            code = secrets.token_hex(16)
            self._manual_validations[code] = url
            event = _wire.event_grid_event(
                "Microsoft.EventGrid.SubscriptionValidationEvent",
                topic=self._topic(),
                subject="",
                data={
                    "validationCode": code,
                    "validationUrl": f"{self.endpoint}/emulator/eventgrid/validate/{code}",
                },
            )
            delivery = await post_json(
                self.http,
                url,
                [event],
                headers=self._event_grid_headers("SubscriptionValidation"),
                attempts=self.options.callback_attempts,
                backoff=self.options.callback_backoff,
            )
            self.validations.append(delivery)
            answer = delivery.response_json
            if delivery.delivered and isinstance(answer, dict) and answer.get("validationResponse") == code:
                self._validated.add(url)
            if url not in self._validated:
                self._manual_validations.pop(code, None)
                got = f"status {delivery.last_status}, body {answer!r}" if delivery.attempts else "no response"
                if delivery.attempts and delivery.attempts[-1].error:
                    got = delivery.attempts[-1].error
                raise EventGridValidationError(
                    f"Event Grid webhook {url} did not validate: expected 200 with "
                    f'{{"validationResponse": "{code}"}}, got {got}'
                )

    def validate_manually(self, code: str) -> bool:
        """The asynchronous handshake: GET on the validationUrl marks the webhook validated."""
        url = self._manual_validations.pop(code, None)
        if url is None:
            return False
        self._validated.add(url)
        return True

    # ---------------------------------------------------------------- recording files

    @property
    def resource_id(self) -> str:
        """Stable id of the emulated ACS resource (recording metadata's ``resourceId``)."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"acs-emulator:{self.options.resource_name}"))

    def storage_transport(self, inner: AsyncHttpTransport | None = None) -> StorageRedirectTransport:
        """An azure-core async transport for `CallAutomationClient(..., transport=...)` that sends the
        SDK's recording downloads and deletes (to `options.recording_storage_url`) to this emulator."""
        return StorageRedirectTransport(
            storage_url=self.options.recording_storage_url, target=self.endpoint, inner=inner
        )

    def recording_file(self, recording_id: str) -> RecordingFile | None:
        recording = self.recordings.get(recording_id)
        return recording.file if recording is not None else None

    # Bounded by default; callers pass timeout= (hence ASYNC109).
    async def wait_recording_file(self, recording_id: str, *, timeout: float = 10.0) -> RecordingFile:  # noqa: ASYNC109
        """The file of `recording_id` once its RecordingFileStatusUpdated delivery is over (delivered or
        given up)."""
        deadline = time.perf_counter() + timeout
        while True:
            file = self.recording_file(recording_id)
            if file is not None and file.delivery_done:
                return file
            if time.perf_counter() > deadline:
                state = "no file yet" if file is None else "delivery still in progress"
                raise TimeoutError(f"recording {recording_id}: {state} after {timeout}s")
            await asyncio.sleep(0.01)

    def _recording_ended(self, call: SimulatedCall, recording: Recording) -> None:
        file = build_recording_file(
            recording,
            storage_url=self.options.recording_storage_url,
            topic=self._topic(),
            resource_id=self.resource_id,
            # The only documented value; ACS's own logs show it for app-stopped recordings too.
            session_end_reason="CallEnded",
        )
        recording.file = file
        self.recording_files[file.document_id] = file
        call._spawn(self._deliver_recording_file(call, file), "recording-file")

    async def _deliver_recording_file(self, call: SimulatedCall, file: RecordingFile) -> None:
        try:
            await asyncio.sleep(self.options.recording_file_delay)
            url = call.event_grid_url or self.event_grid_url
            if not url:
                log.warning(
                    "recording %s: no Event Grid webhook; RecordingFileStatusUpdated not sent", file.recording_id
                )
                return
            try:
                await self._ensure_validated(url)
            except EventGridValidationError as exc:
                log.warning("recording %s: %s", file.recording_id, exc)
                return
            file.delivery = await post_json(
                self.http,
                url,
                [file.event],
                headers=self._event_grid_headers("Notification"),
                attempts=self.options.callback_attempts,
                backoff=self.options.callback_backoff,
                header_for_attempt="aeg-delivery-count",
            )
            self.recording_deliveries.append(file.delivery)
        finally:
            file.delivery_done = True

    # ---------------------------------------------------------------- speech

    async def render(self, text: str, voice: str | None, sample_rate: int) -> bytes:
        key = (text, voice, sample_rate)
        pending = self._render_cache.get(key)
        if pending is None or pending.cancelled() or (pending.done() and pending.exception() is not None):
            pending = asyncio.ensure_future(asyncio.to_thread(self._renderer, text, voice, sample_rate))
            self._render_cache[key] = pending
        return await asyncio.shield(pending)

    async def prerender(self, steps: Iterable[Step], sample_rate: int) -> None:
        says = [s for s in steps if isinstance(s, Say)]
        if says:
            await asyncio.gather(*(self.render(s.text, s.voice, sample_rate) for s in says), return_exceptions=True)

    # ---------------------------------------------------------------- repeatability

    def repeatable(self, request_id: str) -> tuple[asyncio.Future[tuple[int, Any]], bool]:
        """The future holding the result for this Repeatability-Request-ID, and whether it is new."""
        existing = self._repeatability.get(request_id)
        if existing is not None and not existing.cancelled():
            return existing, False
        future: asyncio.Future[tuple[int, Any]] = asyncio.get_running_loop().create_future()
        self._repeatability[request_id] = future
        if len(self._repeatability) > 10_000:
            oldest = next(iter(self._repeatability))
            self._repeatability.pop(oldest)
        return future, True

    def forget_repeatable(self, request_id: str) -> None:
        self._repeatability.pop(request_id, None)


def _default_renderer(text: str, voice: str | None, sample_rate: int) -> bytes:
    if voice:
        return render_speech(text, voice=voice, sample_rate=sample_rate)
    return render_speech(text, sample_rate=sample_rate)


def now_utc() -> datetime:
    return datetime.now(UTC)
