"""HMAC-SHA256 request authentication, as ACS checks it.

The Call Automation SDK signs ``VERB\\n/path?query\\n{x-ms-date};{host};{x-ms-content-sha256}`` with
HMAC-SHA256 keyed by the base64-decoded access key and sends
``Authorization: HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=<b64>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

_SCHEME = "HMAC-SHA256"


def content_sha256(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def sign(access_key: str, string_to_sign: str) -> str:
    secret = base64.b64decode(access_key)
    digest = hmac.new(secret, string_to_sign.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_request(
    *,
    access_key: str,
    method: str,
    path_and_query: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime | None = None,
    max_clock_skew: timedelta = timedelta(minutes=15),
    signed_hosts: Sequence[str] | None = None,
) -> str | None:
    """Check one request. Returns None when it is authentic, else a short reason (for the 401 body).

    `headers` must be case-insensitive (Starlette's are). `host` is the Host header as received, unless
    `signed_hosts` lists the values the signer may have used instead (the SDK signs recording downloads
    on another host with the ACS resource's host; the signature may match any of them).
    """
    authorization = headers.get("authorization")
    if not authorization:
        return "Missing Authorization header."
    scheme, _, params = authorization.partition(" ")
    if scheme != _SCHEME:
        return f"Unsupported authorization scheme {scheme!r}; expected {_SCHEME}."
    signed_part, sep, signature = params.partition("&Signature=")
    if not sep or not signed_part.startswith("SignedHeaders="):
        return "Malformed Authorization header."
    signed_headers = [h.strip().lower() for h in signed_part[len("SignedHeaders=") :].split(";") if h.strip()]
    for required in ("x-ms-date", "host", "x-ms-content-sha256"):
        if required not in signed_headers:
            return f"Header {required!r} must be signed."

    claimed_hash = headers.get("x-ms-content-sha256", "")
    if not hmac.compare_digest(claimed_hash, content_sha256(body)):
        return "x-ms-content-sha256 does not match the request body."

    raw_date = headers.get("x-ms-date", "")
    try:
        sent_at = parsedate_to_datetime(raw_date)
    except (TypeError, ValueError, IndexError):
        return "Missing or malformed x-ms-date header."
    if sent_at.tzinfo is None:
        sent_at = sent_at.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    if abs(current - sent_at) > max_clock_skew:
        return "x-ms-date is outside the allowed clock skew."

    hosts = list(signed_hosts) if signed_hosts is not None else [headers.get("host")]
    for host in hosts:
        values = []
        for name in signed_headers:
            value = host if name == "host" else headers.get(name)
            if value is None:
                return f"Signed header {name!r} is missing."
            values.append(value)
        string_to_sign = f"{method.upper()}\n{path_and_query}\n{';'.join(values)}"
        try:
            expected = sign(access_key, string_to_sign)
        except (binascii.Error, ValueError):
            return "The emulator's access key is not valid base64."
        if hmac.compare_digest(expected, signature):
            return None
    return "Signature mismatch."
