"""The realtime worker's ASGI app: one media WebSocket per call, bound by id and per-call token.

`/media/{call_id}?token=...` is the transport URL the answer activity gives ACS. A socket without
a valid token for that call is refused before it is accepted (HTTP 403 on the handshake).
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, WebSocket
from starlette.websockets import WebSocketDisconnect

from realtime.bridge import SignalQueue
from switchboard.media_token import verify_media_token
from workflows.contracts import CallEnded, MediaAttached, call_workflow_id

logger = logging.getLogger(__name__)


@dataclass
class RealtimeConfig:
    media_token_secret: str
    worker_id: str = ""
    task_queue: str = ""

    def __post_init__(self) -> None:
        if not self.worker_id:
            self.worker_id = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


def create_realtime_app(config: RealtimeConfig, signals: SignalQueue) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with signals:
            yield

    app = FastAPI(title="Switchboard realtime worker", lifespan=lifespan)
    app.state.active_calls = set()

    @app.get("/health")
    async def health() -> dict[str, object]:
        return {
            "status": "ok",
            "worker_id": config.worker_id,
            "active_calls": len(app.state.active_calls),
            "pending_signals": signals.pending(),
        }

    @app.websocket("/media/{call_id}")
    async def media(websocket: WebSocket, call_id: str) -> None:
        token = websocket.query_params.get("token", "")
        if not verify_media_token(call_id, token, secret=config.media_token_secret):
            logger.warning("refused media socket for call %s: bad or missing token", call_id)
            await websocket.close(code=1008)
            return
        await websocket.accept()
        bridge = signals.for_call(call_workflow_id(call_id))
        session_id = uuid.uuid4().hex
        app.state.active_calls.add(call_id)
        bridge.media_attached(
            MediaAttached(worker_id=config.worker_id, session_id=session_id, task_queue=config.task_queue)
        )
        reason = "socket_closed"
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
        except WebSocketDisconnect:
            pass
        finally:
            app.state.active_calls.discard(call_id)
            bridge.call_ended(CallEnded(reason=reason, worker_id=config.worker_id))

    return app
