"""The back-office dashboard: one static page (no build step) that calls the API with a key.

The page is public; its data calls are not. Open it as `/dashboard#key=<api key>` (the fragment
never reaches the server or its logs) or `/dashboard?key=<api key>` (convenient, but the key lands
in access logs: development only). The page sends the key as `X-API-Key` on every request, and
reads the live transcript with `fetch` streaming, since `EventSource` cannot send headers.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["dashboard"])

PAGE = Path(__file__).resolve().parent.parent / "static" / "dashboard.html"


@router.get("/dashboard", response_class=HTMLResponse, summary="Back-office dashboard (HTML)")
async def dashboard() -> HTMLResponse:
    return HTMLResponse(PAGE.read_text(encoding="utf-8"), headers={"Cache-Control": "no-store"})
