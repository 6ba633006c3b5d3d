"""The realtime worker's ASGI app: one media WebSocket per call, bound by id and per-call token.

`/media/{call_id}?token=...` is the transport URL the answer activity gives ACS. A socket without
a valid token for that call is refused before it is accepted (HTTP 403 on the handshake). An
accepted socket is bound to the call (`media_attached`), served by a `MediaSession`, and its end is
signalled (`call_ended`, with the last turn's sequence number). `/health` and `/metrics`
(Prometheus text format) serve operators.

    app = create_realtime_app(
        RealtimeConfig(media_token_secret=...),
        signals,                                   # the worker's SignalQueue (Temporal signals)
        engines=Engines(recognizer, synthesizer, brain_factory, voice=...),
        actions=lambda workflow_id: WorkflowCallActions(workflow_id, execute_update),
        live=redis_live_transcript,                # optional
    )
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI, WebSocket
from fastapi.responses import PlainTextResponse
from starlette.websockets import WebSocketDisconnect, WebSocketState

from activities.storage import BlobStore
from realtime.actions import ActionsFactory, RefusingCallActions
from realtime.bridge import SignalQueue
from realtime.engines.base import ToolRunner
from realtime.live import LiveTranscript
from realtime.live_state import LiveStateStore
from realtime.metrics import RealtimeMetrics
from realtime.recording import upload_recording
from realtime.session import Engines, MediaSession, SessionConfig
from realtime.watchdog import MediaSessionRegistry
from switchboard.media_token import verify_media_token
from workflows.contracts import CallEnded, MediaAttached, Turn, call_workflow_id

logger = logging.getLogger(__name__)

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class RealtimeConfig:
    media_token_secret: str
    worker_id: str = ""
    task_queue: str = ""
    session: SessionConfig = field(default_factory=SessionConfig)

    def __post_init__(self) -> None:
        if not self.worker_id:
            self.worker_id = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


class StarletteMediaSocket:
    """Adapts Starlette's WebSocket to the session's `MediaSocket`."""

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket

    async def receive(self) -> str | bytes | None:
        try:
            message = await self._ws.receive()
        except (WebSocketDisconnect, RuntimeError):
            return None
        if message["type"] == "websocket.disconnect":
            return None
        text = message.get("text")
        if text is not None:
            return str(text)
        return bytes(message.get("bytes") or b"")

    async def send_text(self, text: str) -> None:
        await self._ws.send_text(text)


class AgentTrackingLive:
    """The session's live transcript, also keeping the Redis `agent` key current: a turn by another
    agent than the last one (a handoff) updates it."""

    def __init__(self, inner: LiveTranscript | None, live_state: LiveStateStore, agent: str) -> None:
        self._inner = inner
        self._live_state = live_state
        self._agent = agent

    def publish(self, call_id: str, turn: Turn) -> None:
        if self._inner is not None:
            self._inner.publish(call_id, turn)
        if turn.agent and turn.agent != self._agent:
            self._agent = turn.agent
            self._live_state.agent_changed(call_id, turn.agent)


def create_realtime_app(
    config: RealtimeConfig,
    signals: SignalQueue,
    engines: Engines | None = None,
    *,
    actions: ActionsFactory | None = None,
    tools: Callable[[str], ToolRunner] | None = None,
    live: LiveTranscript | None = None,
    metrics: RealtimeMetrics | None = None,
    recordings: BlobStore | None = None,
    live_state: LiveStateStore | None = None,
    held_sessions: MediaSessionRegistry | None = None,
) -> FastAPI:
    """The worker's app. Without `engines` the media socket is bound and drained (no conversation),
    which is what a worker without speech engines configured can do.

    With `recordings`, each call's stereo recording is uploaded there after its socket closes and
    its location goes to the workflow with `call_ended`. With `live_state`, the worker records in
    Redis which worker holds the call and its agent, on bind and on close. With `held_sessions`,
    each session is registered while open, for the media watchdog activity (`realtime.watchdog`)."""
    metrics = metrics or RealtimeMetrics()
    actions_for = actions or RefusingCallActions

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with signals:
            yield

    app = FastAPI(title="Switchboard realtime worker", lifespan=lifespan)
    app.state.active_calls = set()
    app.state.sessions = {}
    app.state.metrics = metrics

    @app.get("/health")
    async def health() -> dict[str, object]:
        return {
            "status": "ok",
            "worker_id": config.worker_id,
            "active_calls": len(app.state.active_calls),
            "pending_signals": signals.pending(),
        }

    @app.get("/metrics")
    async def prometheus_metrics() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type=PROMETHEUS_CONTENT_TYPE)

    @app.websocket("/media/{call_id}")
    async def media(websocket: WebSocket, call_id: str) -> None:
        token = websocket.query_params.get("token", "")
        if not verify_media_token(call_id, token, secret=config.media_token_secret):
            logger.warning("refused media socket for call %s: bad or missing token", call_id)
            await websocket.close(code=1008)
            return
        await websocket.accept()
        workflow_id = call_workflow_id(call_id)
        bridge = signals.for_call(workflow_id)
        session_id = uuid.uuid4().hex
        app.state.active_calls.add(call_id)
        if held_sessions is not None:
            held_sessions.opened(session_id)
        bridge.media_attached(
            MediaAttached(
                worker_id=config.worker_id,
                session_id=session_id,
                sample_rate=config.session.carrier_rate,
                task_queue=config.task_queue,
            )
        )
        agent = websocket.query_params.get("agent") or None
        if live_state is not None:
            live_state.bound(call_id, worker_id=config.worker_id, agent=agent or config.session.default_agent)
        media_socket = StarletteMediaSocket(websocket)
        reason, last_sequence = "socket_closed", 0
        session: MediaSession | None = None
        try:
            if engines is None:
                while await media_socket.receive() is not None:
                    pass
            else:
                session = MediaSession(
                    call_id=call_id,
                    socket=media_socket,
                    engines=engines,
                    bridge=bridge,
                    actions=actions_for(workflow_id),
                    tools=tools(call_id) if tools is not None else None,
                    live=live
                    if live_state is None
                    else AgentTrackingLive(live, live_state, agent or config.session.default_agent),
                    metrics=metrics,
                    config=config.session,
                    agent=agent,
                )
                app.state.sessions[session_id] = session
                try:
                    reason = await session.run()
                finally:
                    del app.state.sessions[session_id]
                    last_sequence = session.last_sequence
        except Exception:  # building the session failed (an engine refused): this call only
            logger.exception("call %s: media session could not run", call_id)
            reason = "realtime_error"
        finally:
            app.state.active_calls.discard(call_id)
            if websocket.application_state == WebSocketState.CONNECTED:
                try:
                    await websocket.close(code=1011 if reason == "realtime_error" else 1000)
                except (RuntimeError, WebSocketDisconnect):
                    pass  # the peer went away first
            # After the socket: the upload is off the audio path, and the workflow learns where it is.
            recording_location = ""
            if recordings is not None and session is not None and session.recording is not None:
                recording_location = await upload_recording(recordings, workflow_id, session.recording)
            bridge.call_ended(
                CallEnded(
                    reason=reason,
                    worker_id=config.worker_id,
                    last_sequence=last_sequence,
                    recording_location=recording_location,
                )
            )
            if live_state is not None:
                live_state.closed(call_id, reason=reason)
            if held_sessions is not None:
                held_sessions.closed(session_id, reason)

    return app
