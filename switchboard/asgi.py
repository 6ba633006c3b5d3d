"""Run an ASGI app with uvicorn inside the current event loop (tests, benchmarks, the demo)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn


class _InLoopServer(uvicorn.Server):
    """A uvicorn server that leaves the process's signal handlers to its owner."""

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()


@asynccontextmanager
async def serve_in_loop(app: Any, *, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[int]:
    """Serve `app` until the block exits; yields the bound port (an ephemeral one when `port` is 0)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = int(sock.getsockname()[1])
    config = uvicorn.Config(app, log_level="warning", ws="websockets-sansio", lifespan="on")
    server = _InLoopServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"uvicorn:{bound_port}")
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("server stopped while starting")
            await asyncio.sleep(0.01)
        yield bound_port
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        sock.close()
