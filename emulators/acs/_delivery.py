"""Webhook delivery with retries (Event Grid events and Call Automation callbacks)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger(__name__)

# Statuses a retry cannot fix; everything else that is not 2xx (and network errors) is retried.
_FINAL_STATUSES = frozenset({400, 401, 403, 404, 405, 413, 415})


@dataclass
class DeliveryAttempt:
    at: float
    status: int | None
    error: str | None = None


@dataclass
class Delivery:
    """One payload posted to one URL, with every attempt."""

    url: str
    payload: Any
    headers: dict[str, str]
    attempts: list[DeliveryAttempt] = field(default_factory=list)
    response_json: Any = None
    delivered: bool = False

    @property
    def last_status(self) -> int | None:
        return self.attempts[-1].status if self.attempts else None


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    payload: Any,
    *,
    headers: dict[str, str] | None = None,
    attempts: int = 4,
    backoff: float = 0.1,
    request_timeout: float = 5.0,
    header_for_attempt: str | None = None,
) -> Delivery:
    """POST `payload` as JSON; retry network errors, 408, 429 and 5xx with exponential backoff.
    Never raises for delivery problems: the returned Delivery says what happened.
    `header_for_attempt` names a header set to the attempt number (0-based), e.g. aeg-delivery-count."""
    delivery = Delivery(url=url, payload=payload, headers=dict(headers or {}))
    for attempt in range(max(1, attempts)):
        if attempt:
            await asyncio.sleep(backoff * (2 ** (attempt - 1)))
        send_headers = {"Content-Type": "application/json", **delivery.headers}
        if header_for_attempt:
            send_headers[header_for_attempt] = str(attempt)
        at = time.perf_counter()
        try:
            response = await client.post(url, json=payload, headers=send_headers, timeout=request_timeout)
        except (httpx.HTTPError, OSError) as exc:
            delivery.attempts.append(DeliveryAttempt(at, None, f"{type(exc).__name__}: {exc}"))
            log.debug("delivery to %s failed: %s", url, exc)
            continue
        delivery.attempts.append(DeliveryAttempt(at, response.status_code))
        if 200 <= response.status_code < 300:
            delivery.delivered = True
            try:
                delivery.response_json = response.json() if response.content else None
            except ValueError:
                delivery.response_json = None
            return delivery
        if response.status_code in _FINAL_STATUSES:
            break
    log.warning("giving up delivering to %s after %d attempt(s)", url, len(delivery.attempts))
    return delivery
