"""The dashboard in headless Chromium, driven over the DevTools protocol: it lists calls and claims,
and a live call's transcript updates in the page as turns are published to Redis."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from temporalio.client import Client
from websockets.asyncio.client import ClientConnection, connect

from activities.storage import ClaimRecord, SqliteArchive
from activities.storage.archive import default_sqlite_path
from realtime.live import RedisLiveTranscript
from switchboard.settings import DEV_API_KEYS, Settings
from tests.conftest import free_port
from tests.stack import LocalStack, local_stack
from workflows.call import CallWorkflow
from workflows.contracts import HangUpRequest, Turn

pytestmark = pytest.mark.e2e

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


class Page:
    """Just enough of the Chrome DevTools Protocol: navigate and evaluate."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        await self._socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            reply = json.loads(await self._socket.recv())
            if reply.get("id") == message_id:
                assert "error" not in reply, reply
                return dict(reply.get("result", {}))

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def wait_for(self, expression: str) -> Any:
        """Poll until the expression is truthy (the page has no event to wait on); 30 s at most."""
        async with asyncio.timeout(30):
            while not (value := await self.evaluate(expression)):
                await asyncio.sleep(0.1)
        return value


@pytest.fixture
async def stack(settings: Settings, temporal_client: Client, redis_port: int) -> AsyncIterator[LocalStack]:
    settings.redis.url = f"redis://127.0.0.1:{redis_port}/0"
    async with local_stack(settings, temporal_client) as running:
        yield running


@contextlib.asynccontextmanager
async def chromium(tmp_path: Path) -> AsyncIterator[Page]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("chromium is not installed: run `make setup` (scripts/ensure-system-packages.sh)")
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        binary,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={tmp_path / 'chromium'}",
        f"--remote-debugging-port={port}",
        "about:blank",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as devtools:
            async with asyncio.timeout(30):
                while True:
                    assert process.returncode is None, "chromium exited while starting"
                    with contextlib.suppress(httpx.HTTPError):
                        targets = (await devtools.get("/json/list")).json()
                        pages = [t for t in targets if t.get("type") == "page"]
                        if pages:
                            break
                    await asyncio.sleep(0.2)
        async with connect(pages[0]["webSocketDebuggerUrl"], max_size=2**24) as socket:
            page = Page(socket)
            await page.send("Runtime.enable")
            yield page
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


async def test_the_dashboard_shows_calls_claims_and_a_live_transcript_updating(
    stack: LocalStack, tmp_path: Path
) -> None:
    call = await stack.emulator.place_call(caller="+15551238001", callee="+15550009999", script=[{"silence": 60}])
    await call.wait_for("media_opened", timeout=15)
    handle = stack.handle(call.call_id)
    async with SqliteArchive(default_sqlite_path(stack.settings)) as archive:
        await archive.upsert_claim(ClaimRecord(claim_id="CLM-DASH-1", caller="+15551238001", status="open"))

    redis = Redis.from_url(stack.settings.redis.url)
    try:
        async with RedisLiveTranscript(redis) as live:
            live.publish(call.call_id, Turn(sequence=40, caller_text="my car was hit", agent_text="I am sorry"))
        async with chromium(tmp_path) as page:
            url = f"{stack.settings.acs.callback_base_url}/dashboard#key={DEV_API_KEYS['staff']}&call={handle.id}"
            await page.send("Page.navigate", url=url)

            rows = f"[...document.querySelectorAll('#calls tr')].some(r => r.dataset.workflowId === '{handle.id}')"
            assert await page.wait_for(rows)
            assert await page.wait_for("document.querySelector('#claims tr[data-claim-id=\"CLM-DASH-1\"]') !== null")
            assert await page.wait_for("document.getElementById('live-state').textContent === 'live'")
            said = "document.querySelector('#transcript li[data-sequence=\"40\"]')?.textContent"
            assert "I am sorry" in await page.wait_for(said)

            # Turns published while the page is open appear in it, in order.
            async with RedisLiveTranscript(redis) as live:
                live.publish(call.call_id, Turn(sequence=41, caller_text="nobody was hurt", agent_text="good to hear"))
            new = "document.querySelector('#transcript li[data-sequence=\"41\"]')?.textContent"
            assert "good to hear" in await page.wait_for(new)
            async with RedisLiveTranscript(redis) as live:
                live.publish(call.call_id, Turn(sequence=42, caller_text="thanks", agent_text="goodbye"))
            assert "goodbye" in await page.wait_for(
                "document.querySelector('#transcript li[data-sequence=\"42\"]')?.textContent"
            )
            order = await page.evaluate(
                "[...document.querySelectorAll('#transcript li')].map(li => Number(li.dataset.sequence))"
            )
            assert [s for s in order if s >= 40] == [40, 41, 42]
            assert await page.evaluate("document.getElementById('error').textContent") == ""

        # Without a key the page loads but its data calls are refused, and it says so.
        async with chromium(tmp_path) as page:
            await page.send("Page.navigate", url=f"{stack.settings.acs.callback_base_url}/dashboard")
            error = await page.wait_for("document.getElementById('error').textContent")
            assert "401" in error and "missing_api_key" in error
    finally:
        await redis.aclose()
    await handle.execute_update(CallWorkflow.hang_up, HangUpRequest(reason="test over", requested_by="staff"))
    await handle.result()
