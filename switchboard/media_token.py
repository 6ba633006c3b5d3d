"""Per-call media tokens: the workflow's answer activity puts one into the transport URL, and the
realtime worker accepts a media WebSocket only for the call the token names, before it expires."""

from __future__ import annotations

import hashlib
import hmac
import time


def _mac(secret: str, call_id: str, expires_at: int) -> str:
    message = f"{call_id}.{expires_at}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def issue_media_token(call_id: str, *, secret: str, ttl_seconds: int, now: float | None = None) -> str:
    expires_at = int((time.time() if now is None else now) + ttl_seconds)
    return f"{expires_at}.{_mac(secret, call_id, expires_at)}"


def verify_media_token(call_id: str, token: str, *, secret: str, now: float | None = None) -> bool:
    """True only for a well-formed, unexpired token minted for exactly this call."""
    expires_text, _, mac = token.partition(".")
    if not expires_text.isdigit() or not mac:
        return False
    expires_at = int(expires_text)
    if expires_at < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(mac, _mac(secret, call_id, expires_at))
