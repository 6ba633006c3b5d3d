"""A tiny HTTP health endpoint for processes that are not web servers (the Temporal worker)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable


async def serve_health(host: str, port: int, status: Callable[[], dict[str, object]]) -> asyncio.Server:
    """Answer every HTTP request with `status()` as JSON (200 when status()['status'] == 'ok')."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            body = json.dumps(status()).encode()
            code = "200 OK" if b'"status": "ok"' in body else "503 Service Unavailable"
            writer.write(
                f"HTTP/1.1 {code}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
